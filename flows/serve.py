"""One-command serving for a single box: ``python -m flows.serve``.

Registers and serves both deployments from this process (no work pool, no worker):
``embed/nightly`` on its cron schedule with the project's configured defaults, and
``evaluate/on-demand``. ``prefect deployment run embed/nightly`` then runs here.
The work-pool way (prefect.yaml + prefect deploy + prefect worker) is in infra/.
"""

from __future__ import annotations

from prefect import serve
from prefect.schedules import Cron

from flows.embed import embed
from flows.evaluate import evaluate
from mmindex.config import Settings


def deployments(settings: Settings | None = None) -> list:
    s = settings or Settings()
    nightly = embed.to_deployment(
        name="nightly",
        schedule=Cron(s.nightly_cron, timezone=s.timezone),
        parameters={"source": s.nightly_source, "index": s.nightly_index, "model": s.model,
                    "golden_queries": s.golden_queries, "golden_qrels": s.golden_qrels},
        tags=["mmindex", "nightly"],
        description="Nightly embed of the configured source; evaluates and gates the candidate.",
    )
    on_demand = evaluate.to_deployment(
        name="on-demand", tags=["mmindex"],
        parameters={"index": s.nightly_index, "queries": s.golden_queries,
                    "qrels": s.golden_qrels},
        description="Evaluate an index version on a golden set and gate its promotion.",
    )
    return [nightly, on_demand]


if __name__ == "__main__":
    serve(*deployments())
