"""The ``compare`` flow: a model bake-off on one source and golden set, as a Prefect artifact."""

from __future__ import annotations

from typing import Literal

from prefect import flow

from mmindex.config import load_settings
from tasks.compare_tasks import compare_models_task
from tasks.runlogs import library_logs_to_run


@flow(name="compare", flow_run_name="compare-{index}", validate_parameters=True)
def compare(
    source: str,
    models: list[str],
    queries: str,
    qrels: str,
    index: str = "compare",
    db: str | None = None,
    format: Literal["jsonl", "csv", "parquet", "beir"] | None = None,
    fields: list[str] | None = None,
) -> dict:
    """Embed SOURCE with each of MODELS and compare them on the golden set (nothing promoted);
    the tables go to DB, or to a scratch database that is removed (never the settings' db)."""
    with library_logs_to_run():  # the library's log lines reach this run's logs
        return compare_models_task(load_settings().transport(), source, models, queries, qrels,
                                   index, format, fields, db)
