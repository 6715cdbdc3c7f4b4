"""The ``evaluate`` flow: score an index version on a golden set and gate its promotion."""

from __future__ import annotations

from typing import Literal

from prefect import flow

from mmindex.config import Settings
from tasks.evaluate_tasks import evaluate_and_gate


@flow(name="evaluate", flow_run_name="evaluate-{index}-v{version}", validate_parameters=True)
def evaluate(
    index: str,
    queries: str,
    qrels: str,
    version: int | None = None,
    table: str | None = None,
    db: str | None = None,
    mode: Literal["vector", "ann", "fts", "hybrid"] | None = None,
    promote: bool = True,
    run_id: str | None = None,
) -> dict:
    """Evaluate INDEX at VERSION (default: production); promote it if the gate passes."""
    settings = Settings().with_overrides(db=db)
    return evaluate_and_gate(settings.model_dump(mode="json"), index, version, table, queries,
                             qrels, [mode] if mode else None, promote, run_id)
