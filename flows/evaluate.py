"""The ``evaluate`` flow: score an index version on a golden set and gate its promotion."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from mmindex.search.modes import ModeChoice
from tasks.evaluate_tasks import evaluate_and_gate
from tasks.names import evaluate_run_name
from tasks.outcome import gate_state
from tasks.runlogs import library_logs_to_run
from tasks.settings import run_settings


def run_name() -> str:
    """``evaluate-<index>-<model>-d<dims>-v<version>`` (see :func:`evaluate_run_name`)."""
    p = flow_run.get_parameters()
    return evaluate_run_name(p.get("index") or run_settings().nightly_index, p.get("table"),
                             p.get("version"))


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
    none); promote it if the gate passes. Unset parameters come from the settings, as for embed.
    A candidate the gate rejects ends the run Failed, named Rejected (tasks/outcome.py)."""
    with library_logs_to_run():  # the library's log lines reach this run's logs
        settings = run_settings(db=db)
        report = evaluate_and_gate(settings.transport(), index or settings.nightly_index, version,
                                   table, queries or settings.golden_queries,
                                   qrels or settings.golden_qrels, [mode] if mode else None,
                                   promote, run_id)
        return gate_state(report, report)
