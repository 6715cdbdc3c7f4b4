"""Tasks of the ``embed`` flow: plan, embed a group of batches, commit. Inputs and results are
references (a RunPlan of plain data, counts), never vectors; one task run per group of
``group_items`` items (20,000 by default), never per item."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from mmindex.config import Settings
from mmindex.pipeline import (
    GroupResult,
    Progress,
    RunPlan,
    commit_run,
    embed_group,
    fail_run,
    plan_run,
)
from tasks.artifacts import ProgressReporter
from tasks.retry import RETRYING


@task(name="plan-embed-run", **RETRYING)
def plan_embed_run(source: str, index: str, settings: dict[str, Any], run_id: str,
                   format: str | None = None, fields: list[str] | None = None) -> dict:
    """Load the model, count the source, cut it into batch groups."""
    plan = plan_run(source, index, Settings(**settings), run_id=run_id, format=format,
                    fields=fields)
    if plan.settings["executor"] == "ray":  # the actors start (model loaded once each)
        from mmindex.cluster import prepare

        pool = prepare(plan)
        get_run_logger().info("ray: %d actor(s) on %d node(s)", len(pool.actors),
                              len({w["node_id"] for w in pool.where}))
    get_run_logger().info("run %s: %d items in %d group(s) -> table %s", plan.run_id,
                          plan.total_items, len(plan.groups), plan.table)
    return asdict(plan)


@task(name="embed-batch-group", task_run_name="embed-batch-group-{group}", **RETRYING)
def embed_batch_group(plan: dict, group: int, progress_id: str | None = None) -> dict:
    """Embed one group of batches into staging (a retry reuses what was staged)."""
    p = RunPlan(**plan)
    reporter = ProgressReporter(progress_id)
    try:
        if p.settings["executor"] == "ray":  # on the next idle actor; a lost one: retried
            from mmindex.cluster import pool_for

            res = pool_for(p.settings_obj()).run_group(p, group)
            reporter(Progress(group_offset(p, group) + res.seen, p.total_items, res.counts()))
        else:
            res = embed_group(p, group, progress=reporter)
    finally:
        reporter.close()
    get_run_logger().info("group %d: seen %d, embedded %d, unchanged %d, quarantined %d", group,
                          res.seen, res.embedded, res.skipped_unchanged, res.quarantined)
    return asdict(res)


def group_offset(plan: RunPlan, group: int) -> int:
    """Items before group ``group`` (where its progress starts)."""
    return plan.groups[group][0] * plan.settings["read_chunk_rows"]


@task(name="commit-index-version", **RETRYING)
def commit_index_version(plan: dict, groups: list[dict]) -> dict:
    """Merge the staged rows into the index table once: the new candidate version."""
    p = RunPlan(**plan)
    if p.settings["executor"] == "ray":
        from mmindex.cluster import tidy

        tidy(p)
    result = commit_run(p, [GroupResult(**g) for g in groups])
    get_run_logger().info("committed %s v%s: +%d ~%d -%d rows", result.table, result.version,
                          result.inserted, result.updated, result.deleted)
    return result.to_dict()


@task(name="record-failed-run", cache_policy=NONE, persist_result=False)
def record_failed_run(plan: dict, error: str) -> None:
    """Mark the run failed in the runs table (staged rows stay for the next attempt)."""
    fail_run(RunPlan(**plan), RuntimeError(error))
