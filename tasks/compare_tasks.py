"""Task of the ``compare`` flow: run the bake-off and publish its table."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE

from mmindex.compare import compare_models
from mmindex.config import Settings
from tasks.artifacts import artifact_key


@task(name="compare-models", cache_policy=NONE, persist_result=False)
def compare_models_task(settings: dict[str, Any], source: str, models: list[str], queries: str,
                        qrels: str, index: str, format: str | None,
                        fields: list[str] | None, db: str | None = None) -> dict[str, Any]:
    """Embed the source with each model, score each on the golden set, publish the table."""
    report = compare_models(Settings(**settings), source, models, queries=queries, qrels=qrels,
                            index=index, fields=fields, format=format, db=db)
    create_table_artifact(report.rows(), key=artifact_key("model-comparison", index),
                          description=f"{len(models)} models on {source}, golden set {queries}")
    get_run_logger().info("compared %s:\n%s", ", ".join(models), report.to_text())
    return report.to_dict()
