"""The ``evaluate`` flow: score an index version on a golden set and gate its promotion."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from mmindex.search.modes import ModeChoice
from tasks.evaluate_tasks import evaluate_and_gate
from tasks.runlogs import library_logs_to_run
from tasks.settings import run_settings


def run_name() -> str:
    """``evaluate-<index>-v<version>`` (``latest`` when no version was given)."""
    p = flow_run.get_parameters()
    index = p.get("index") or run_settings().nightly_index
    return f"evaluate-{index}-v{p.get('version') or 'latest'}"


@flow(name="evaluate", flow_run_name=run_name, validate_parameters=True)
def evaluate(
    index: str | None = None,
    queries: str | None = None,
    qrels: str | None = None,
    version: int | None = None,
    table: str | None = None,
    db: str | None = None,
    mode: ModeChoice | None = None,  # any search mode, post-steps included
    promote: bool = True,
    run_id: str | None = None,
) -> dict:
    """Evaluate INDEX at VERSION (default: production, or the newest candidate of an index with
    none); promote it if the gate passes. Unset parameters come from the settings, as for embed."""
    with library_logs_to_run():  # the library's log lines reach this run's logs
        settings = run_settings(db=db)
        return evaluate_and_gate(settings.transport(), index or settings.nightly_index, version,
                                 table, queries or settings.golden_queries,
                                 qrels or settings.golden_qrels, [mode] if mode else None, promote,
                                 run_id)
