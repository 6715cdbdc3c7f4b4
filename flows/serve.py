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
from mmindex.config import Settings, load_settings


def deployments(settings: Settings | None = None) -> list:
    s = settings or load_settings()
    nightly = embed.to_deployment(
        name="nightly",
        schedule=Cron(s.nightly_cron, timezone=s.timezone),
        # no parameters: each run takes them from its settings (tasks/settings.py)
        tags=["mmindex", "nightly"],
        description="Nightly embed of the configured source; evaluates and gates the candidate.",
    )
    on_demand = evaluate.to_deployment(
        name="on-demand", tags=["mmindex"],
        description="Evaluate an index version on a golden set and gate its promotion.",
    )
    return [nightly, on_demand]


if __name__ == "__main__":
    serve(*deployments())
