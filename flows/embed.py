"""The ``embed`` flow: extract items, embed them in batch groups, commit a new index version,
then trigger ``evaluate`` on that candidate (its decision drives promotion)."""

from __future__ import annotations

from typing import Literal

from prefect import flow
from prefect.runtime import flow_run

from flows.evaluate import evaluate
from tasks.artifacts import finish_progress, publish_summary, publish_throughput, start_progress
from tasks.concurrency import index_writer
from tasks.embed_tasks import (
    commit_index_version,
    embed_batch_group,
    plan_embed_run,
    record_failed_run,
)
from tasks.hooks import mark_crashed
from tasks.names import embed_run_name
from tasks.outcome import gate_state, result_of
from tasks.runlogs import library_logs_to_run
from tasks.settings import run_settings


def run_name() -> str:
    """``embed-<index>-<YYYYMMDD-HHMM>``, the scheduled start in the settings' ``timezone``."""
    settings = run_settings()
    index = flow_run.get_parameters().get("index") or settings.nightly_index
    return embed_run_name(index, flow_run.get_scheduled_start_time(), settings.timezone)


@flow(name="embed", flow_run_name=run_name, validate_parameters=True,
      on_crashed=[mark_crashed])
def embed(
    source: str | None = None,
    index: str | None = None,
    model: str | None = None,
    db: str | None = None,
    token_budget: int | None = None,
    dims: int | None = None,
    deletion_policy: Literal["keep", "delete"] | None = None,
    golden_queries: str | None = None,
    golden_qrels: str | None = None,
    run_evaluation: bool = True,
    format: Literal["jsonl", "csv", "parquet", "beir"] | None = None,
    fields: list[str] | None = None,
    writer_wait_s: float = 3600.0,
    executor: Literal["local", "ray"] | None = None,
    ray_address: str | None = None,
) -> dict:
    """Embed SOURCE into a new version of INDEX; evaluate it and promote it if the gate passes.

    Unset parameters come from Prefect Variables ``mmindex_*``, the worker's ``MMINDEX_*``
    environment and the settings file (source: ``nightly_source``, index: ``nightly_index``,
    golden set: ``golden_queries`` / ``golden_qrels``). ``executor="ray"`` embeds the groups
    on Ray actors (``ray_address``); the plan, groups and one commit stay these tasks.
    A candidate the gate rejects ends the run Failed, named Rejected (tasks/outcome.py)."""
    with library_logs_to_run():  # the library's log lines reach this run's logs
        settings = run_settings(model=model, db=db, token_budget=token_budget, dims=dims,
                                deletion_policy=deletion_policy, executor=executor,
                                ray_address=ray_address)
        source, index = source or settings.nightly_source, index or settings.nightly_index
        golden_queries = golden_queries or settings.golden_queries
        golden_qrels = golden_qrels or settings.golden_qrels
        run_id = (flow_run.get_id() or "local").replace("-", "")[:12]
        with index_writer(index, settings.db, run_id, writer_wait_s):
            plan = plan_embed_run(source, index, settings.transport(), run_id, format, fields)
            progress_id = start_progress(index)
            try:
                if settings.executor == "ray":  # the groups run at once, one per Ray actor
                    runs = [embed_batch_group.submit(plan, g, progress_id)
                            for g in range(len(plan["groups"]))]
                    groups = [r.result() for r in runs]
                else:
                    groups = [embed_batch_group(plan, g, progress_id)
                              for g in range(len(plan["groups"]))]
                result = commit_index_version(plan, groups)
            except Exception as exc:
                record_failed_run(plan, f"{type(exc).__name__}: {exc}")
                raise
        finish_progress(progress_id, result)
        publish_throughput(index, result)
        try:
            if run_evaluation and golden_queries and golden_qrels and result["version"] is not None:
                result["evaluation"] = result_of(evaluate(
                    index=index, version=result["version"], table=result["table"],
                    queries=golden_queries, qrels=golden_qrels, db=settings.db, run_id=run_id,
                    return_state=True))
        finally:  # the summary states the gate's decision (or that there was none)
            publish_summary(index, result)
        return gate_state(result, result.get("evaluation"))
