"""Tasks of the ``evaluate`` flow: score the candidate, gate it, apply the decision."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task

from mmindex.config import Settings
from mmindex.evaluation.runner import evaluate_index
from tasks.artifacts import publish_report
from tasks.retry import RETRYING


@task(name="evaluate-and-gate", **RETRYING)
def evaluate_and_gate(settings: dict[str, Any], index: str, version: int | None,
                      table: str | None, queries: str, qrels: str, modes: list[str] | None,
                      promote: bool, run_id: str | None) -> dict[str, Any]:
    """Search the candidate with the golden set, decide, promote or reject, publish the report."""
    report = evaluate_index(Settings(**settings), index, queries=queries, qrels=qrels,
                            version=version, table=table, modes=modes, promote=promote,
                            run_id=run_id)
    publish_report(index, report.to_dict(), report.to_markdown())
    log = get_run_logger()
    if report.decision is not None and not report.decision.passed:
        log.warning("gate FAILED for %s v%s: %s", report.table, report.version,
                    "; ".join(report.decision.reasons))
    else:
        log.info("gate passed for %s v%s (%s)", report.table, report.version, report.action)
    return report.to_dict()
