"""One embed run in three steps: plan -> embed groups (stage rows) -> commit once.

- :func:`plan_run` loads the model, counts the source and cuts it into groups of manifest
  chunks. The returned :class:`RunPlan` is small and JSON-able: it is what Prefect tasks pass
  around (references, never vectors).
- :func:`embed_group` streams one group through the model (see :mod:`mmindex.embed`) and appends
  its rows to the staging table. Unchanged items (same content hash as in the index) are skipped
  before any model work; rows staged earlier (an interrupted or retried attempt) are reused, so
  re-running a group never duplicates anything.
- :func:`commit_run` merges the staged rows into the index table in one ``merge_insert``,
  applies the deletion policy, builds indexes and records the run.

:func:`run_embed` does all three under the index's writer lock; it is what the CLI calls with
``--no-prefect`` and what the ``embed`` flow's tasks call step by step.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from mmindex import index as ix
from mmindex.backends import Embedder, load_embedder, model_slug, set_model_threads
from mmindex.backends.parts import wants_parts
from mmindex.config import Settings
from mmindex.embed import (
    BatchStat,
    Counts,
    GpuStats,
    GroupEmbedder,
    GroupResult,
    Meter,
    Progress,
    Throughput,
    calibrate_token_budget,
)
from mmindex.errors import ConfigError, require
from mmindex.extract import spool as spools
from mmindex.extract.segments import Segment, scan
from mmindex.index import ledger
from mmindex.index.db import storage_guard
from mmindex.search.lancefn import table_metadata

log = logging.getLogger(__name__)

__all__ = ["EmbedResult", "GroupResult", "Progress", "RunPlan", "commit_run", "embed_group",
           "embed_groups", "end_run", "fail_run", "plan_run", "run_embed", "run_embedder"]


@dataclass
class RunPlan:
    """A planned run: everything a worker needs to embed one group, as plain data."""

    run_id: str
    index: str
    source: str
    table: str
    dims: int
    total_items: int
    groups: list[tuple[int, int]]  # [start_chunk, end_chunk) per group
    settings: dict[str, Any]
    format: str | None = None
    fields: list[str] | None = None  # FieldMap.parse() specs
    source_info: dict[str, Any] = field(default_factory=dict)
    model_id: str = ""
    fingerprint: dict[str, Any] = field(default_factory=dict)  # hashed into every item's hash
    gpu_budget: dict[str, Any] | None = None  # how the token budget was fitted to the GPU
    multivector_dims: int | None = None  # a late-interaction model's token vectors (colpali)
    parts: bool = False  # compute the part vectors (backends.parts); then in the fingerprint
    part_columns: bool = False  # rows carry the part columns (parts, or the table has them)
    started_at: float = field(default_factory=time.time)
    segments: list[dict[str, Any]] = field(default_factory=list)  # extract.Segment per group
    spool: dict[str, Any] | None = None  # a remote manifest's local copy (extract.spool)

    def settings_obj(self) -> Settings:
        return Settings(**self.settings)


@dataclass(kw_only=True)
class EmbedResult(Counts):
    """What a run did. ``version`` is the index table's version after the commit (the candidate)."""

    run_id: str
    index: str
    table: str
    version: int | None = None
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    rows: int = 0
    throughput: Throughput = field(default_factory=Throughput)

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.deleted)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["throughput"] = self.throughput.to_dict()
        d["changed"] = self.changed
        d["quarantined"] = self.quarantined
        return d


def run_embedder(s: Settings) -> Embedder:
    """The embedder a run with settings ``s`` uses (loaded once per process; model threads set)."""
    if s.model_threads:
        set_model_threads(s.model_threads)
    return load_embedder(s.model, device=s.device, cache_dir=s.cache_dir,
                         document_instruction=s.document_instruction,
                         query_instruction=s.query_instruction, settings=s)


def _source(s: Settings, source: str, fmt: str | None, fields: Any, spool: Any = None):
    from mmindex.extract import FieldMap, open_source

    fm = FieldMap.parse(fields) if isinstance(fields, list) else fields
    src = open_source(source, format=fmt, fields=fm, storage_options=s.fsspec_options(),
                      chunk_rows=s.read_chunk_rows, max_record_bytes=s.max_record_bytes)
    src.local = spools.usable(spool)  # the plan's copy, when this host holds it
    return src


def plan_run(source: str, index: str, settings: Settings, *, run_id: str | None = None,
             fields: list[str] | None = None, format: str | None = None) -> RunPlan:
    """Load the model (fail fast), count the source, cut it into groups, record the run start.

    Raises:
        ConfigError, ModelUnavailableError: bad settings / model (permanent).
        StorageError: source or database unreachable (transient).
    """
    ix.check_index_name(index)  # before the model loads: a typo fails in a second
    require("lance", "writing an index (embed)", ConfigError)  # pylance: the write extra
    ocr = _ocr_fingerprint(settings)  # tesseract missing: fail before the model loads too
    emb = run_embedder(settings)
    dims = settings.dims or emb.full_dims
    if not 1 <= dims <= emb.full_dims:
        raise ConfigError(
            f"dims={dims}: the model has {emb.full_dims}. Help: pick 1..{emb.full_dims}."
        )
    src = _source(settings, source, format, fields)
    per_group = max(1, math.ceil(settings.group_items / settings.read_chunk_rows))
    delete = settings.deletion_policy == "delete"
    run_id = run_id or uuid.uuid4().hex[:12]
    spool = spools.prepare(src.uri, src.identity, settings.db, index, run_id,  # a remote copy
                           settings.cache_dir / "spool" if settings.spool_manifest else None)
    found = scan(src, per_group, ids=delete, spool=spool)  # the one full pass: group starts
    total, chunks = found.total, math.ceil(found.total / settings.read_chunk_rows)
    groups = [(a, min(a + per_group, chunks)) for a in range(0, chunks, per_group)] or [(0, 0)]
    table = ix.table_name(index, model_slug(settings.model), dims)
    fitted = calibrate_token_budget(emb, settings.token_budget, settings.gpu_memory_fraction)
    if fitted:  # CUDA: batches sized from free GPU memory (None on CPU)
        settings = settings.with_overrides(token_budget=fitted["token_budget"])
    parts = wants_parts(settings.part_vectors, emb)
    db = ix.connect(settings)
    part_columns = parts or (ix.table_exists(db, table)  # the columns stay once added: nulls
                             and ix.has_parts(db.open_table(table).schema))
    plan = RunPlan(run_id, index, src.uri, table, dims, total, groups,
                   settings.transport(), format, fields, src.describe(),
                   model_id=emb.model_id,
                   fingerprint={**emb.fingerprint(), "dims": dims, **ocr,
                                **({"parts": True} if parts else {})},
                   gpu_budget=fitted, multivector_dims=emb.multivector_dims, parts=parts,
                   part_columns=part_columns, segments=[asdict(g) for g in found.segments],
                   spool=src.spool())
    if delete:
        ix.Staging(db, table, dims, emb.multivector_dims).save_ids(found.ids)
    # the caller holds the writer slot: a run of this index still "running" is dead
    for stale in ledger.close_stale_runs(db, index, by=plan.run_id):
        log.warning("%s: run %s had stopped without finishing: marked crashed", index, stale)
    ledger.record_run(db, _lineage(plan, "running"))
    return plan


def _ocr_fingerprint(s: Settings) -> dict[str, Any]:
    """With ``ocr`` on, tesseract's version, languages and mode: part of every item's hash, so
    turning OCR on (or upgrading tesseract) re-embeds; nothing when off (hashes as before)."""
    from mmindex.extract import Ocr

    return {"ocr": Ocr(s.ocr_languages, s.ocr_timeout_s).fingerprint()} if s.ocr else {}


def _lineage(plan: RunPlan, status: str) -> dict[str, Any]:
    return {"run_id": plan.run_id, "index": plan.index, "table_name": plan.table,
            "status": status, "started_at": _ts(plan.started_at), "source": plan.source,
            "model": plan.settings["model"], "model_id": plan.model_id, "dims": plan.dims,
            "code_version": ledger.code_version(),
            "config": {"settings": Settings.redact(plan.settings), "source": plan.source_info,
                       "fingerprint": plan.fingerprint, "gpu_budget": plan.gpu_budget,
                       "groups": len(plan.groups)}}


def _ts(t: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC)


def embed_group(plan: RunPlan, group: int, progress=None) -> GroupResult:
    """Embed group ``group`` of ``plan`` into the staging table (safe to repeat)."""
    s = plan.settings_obj()
    emb = run_embedder(s)
    db = ix.connect(s)
    staging = ix.Staging(db, plan.table, plan.dims, plan.multivector_dims,
                         parts=plan.part_columns)
    segment = Segment(**plan.segments[group])
    src = _source(s, plan.source, plan.format, plan.fields, plan.spool)
    worker = GroupEmbedder(plan.run_id, plan.index, emb, s, db, plan.fingerprint,
                           parts=plan.parts)
    worker.run(src, segment, staging, progress=progress, total=plan.total_items)
    return worker.result(group)


def commit_run(plan: RunPlan, groups: list[GroupResult]) -> EmbedResult:
    """Merge the staged rows into the index once; deletions; indexes; record the run."""
    s = plan.settings_obj()
    db = ix.connect(s)
    staging = ix.Staging(db, plan.table, plan.dims, plan.multivector_dims,
                         parts=plan.part_columns)
    r = EmbedResult(run_id=plan.run_id, index=plan.index, table=plan.table)
    meter = Meter()
    for g in groups:
        r.add(g)
        meter.batches.extend(BatchStat(*b) for b in g.batches)
        for k, v in g.stages.items():
            meter.add_time(k, v)
        if g.gpu:
            meter.gpu.merge(GpuStats(**g.gpu))
    t0 = time.perf_counter()
    delete = s.deletion_policy == "delete"
    if staging.count() or (delete and ix.table_exists(db, plan.table)):
        seen = staging.saved_ids() if delete else None
        if delete and seen is None:  # a retried commit after the first dropped them: read again
            seen = scan(_source(s, plan.source, plan.format, plan.fields, plan.spool), 1,
                        ids=True).ids
        with storage_guard("commit the run to", f"{db.uri}/{plan.table}"):
            c = ix.commit_staged(db, staging, seen_ids=seen, delete_missing=delete, fts=s.fts,
                                 ann_min_rows=s.ann_min_rows, fts_fields=s.fts_metadata_fields,
                                 embedding=table_metadata(s.model, plan.dims, s.query_instruction))
        r.version, r.inserted, r.updated, r.deleted, r.rows = (
            c.version, c.inserted, c.updated, c.deleted, c.rows)
    elif ix.table_exists(db, plan.table):
        tbl = db.open_table(plan.table)
        r.version, r.rows = tbl.version, tbl.count_rows()
    if delete:
        staging.drop()  # the noted ids, when nothing was committed (an empty table is kept)
    meter.add_time("write", time.perf_counter() - t0)
    r.throughput = meter.summary(wall_s=time.time() - plan.started_at)
    keys = ("version", "seen", "embedded", "skipped_unchanged", "reused_staged", "quarantined",
            "truncated", "inserted", "updated", "deleted", "rows")
    ledger.record_run(db, {**_lineage(plan, "committed"), **{k: getattr(r, k) for k in keys},
                           **r.throughput.to_dict()})
    spools.remove(plan.spool)
    return r


def fail_run(plan: RunPlan, exc: BaseException) -> None:
    """Record that the run failed (staged rows stay for the next attempt to reuse)."""
    spools.remove(plan.spool)
    end_run(plan.settings_obj(), plan.index, plan.run_id, "failed",
            f"{type(exc).__name__}: {exc}")


def end_run(settings: Settings, index: str, run_id: str, status: str, error: str) -> None:
    """Record how a run ended when it did not commit (``failed``, ``crashed``): what the flow's
    failure and crash hooks call, so a killed nightly never stays ``running``."""
    ledger.record_run(ix.connect(settings), {"run_id": run_id, "index": index,
                                             "status": status, "error": error})


def embed_groups(plan: RunPlan, progress=None) -> list[GroupResult]:
    """Every group of ``plan``, one after the other in this process (the local executor)."""
    return [embed_group(plan, g, progress) for g in range(len(plan.groups))]


def run_embed(source: str, index: str, settings: Settings, *, run_id: str | None = None,
              fields: list[str] | None = None, format: str | None = None,
              progress=None, executor=embed_groups) -> EmbedResult:
    """Embed ``source`` into a new version of ``index`` (plan, every group, commit).

    ``executor(plan, progress)`` embeds every group and returns their results: by default
    :func:`embed_groups`, here; :class:`mmindex.cluster.RayExecutor` on Ray actors.
    """
    run_id = run_id or uuid.uuid4().hex[:12]
    ix.check_index_name(index)
    with ix.writer_lock(settings.db, index, run_id):
        plan = plan_run(source, index, settings, run_id=run_id, fields=fields, format=format)
        try:
            return commit_run(plan, executor(plan, progress))
        except BaseException as exc:
            fail_run(plan, exc)
            raise
