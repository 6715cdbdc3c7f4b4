"""Append-only bookkeeping tables: runs (lineage + throughput), quarantine, and the registry.

All three are only ever appended to (appends never conflict in Lance, even from concurrent
runs of different indexes). A run writes one ``_runs`` row when it starts and one when it ends;
the latest row per ``run_id`` is its state. The ``_registry`` holds promotion events; the
production version of an index is the table + version of its latest ``promote``/``rollback``
event, so moving production is one atomic append.
"""

from __future__ import annotations

import difflib
import functools
import json
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pyarrow as pa

from mmindex.errors import redact
from mmindex.index.db import storage_guard
from mmindex.index.tables import sql_str, table_exists

RUNS, QUARANTINE, REGISTRY = "_runs", "_quarantine", "_registry"

_TS = pa.timestamp("us", tz="UTC")
RUN_FIELDS: dict[str, pa.DataType] = {
    "run_id": pa.string(), "index": pa.string(), "table_name": pa.string(),
    "status": pa.string(), "at": _TS, "started_at": _TS, "source": pa.string(),
    "model": pa.string(), "model_id": pa.string(), "dims": pa.int32(), "version": pa.int64(),
    "code_version": pa.string(), "config": pa.string(), "error": pa.string(),
    "seen": pa.int64(), "embedded": pa.int64(), "skipped_unchanged": pa.int64(),
    "reused_staged": pa.int64(), "quarantined": pa.int64(), "truncated": pa.int64(),
    "inserted": pa.int64(), "updated": pa.int64(), "deleted": pa.int64(), "rows": pa.int64(),
    "items_per_s": pa.float64(), "tokens_per_s": pa.float64(), "batches": pa.int64(),
    "batch_p50_s": pa.float64(), "batch_p95_s": pa.float64(), "preprocess_s": pa.float64(),
    "model_s": pa.float64(), "read_s": pa.float64(), "write_s": pa.float64(),
    "wall_s": pa.float64(), "peak_rss_mb": pa.float64(), "peak_gpu_mb": pa.float64(),
    "gpu_util_mean_pct": pa.float64(), "gpu_mem_used_max_mb": pa.float64(),
    "ocr_images": pa.int64(), "ocr_s": pa.float64(), "ocr_s_per_image": pa.float64(),
}
QUARANTINE_FIELDS: dict[str, pa.DataType] = {
    "run_id": pa.string(), "index": pa.string(), "item_id": pa.string(), "reason": pa.string(),
    "message": pa.string(), "media": pa.list_(pa.string()), "at": _TS,
}
REGISTRY_FIELDS: dict[str, pa.DataType] = {
    "index": pa.string(), "action": pa.string(), "table_name": pa.string(),
    "version": pa.int64(), "run_id": pa.string(), "actor": pa.string(), "reason": pa.string(),
    "details": pa.string(), "at": _TS,
}
PRODUCTION_ACTIONS = ("promote", "rollback")


def now() -> datetime:
    return datetime.now(UTC)


@functools.cache
def code_version() -> str:
    """mmindex's installed version plus the git commit when running from a checkout (lineage)."""
    try:
        base = version("mmindex")
    except PackageNotFoundError:
        base = "0+unknown"
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{base}+{sha}" if sha else base


def append(db: Any, name: str, fields: dict[str, pa.DataType], rows: list[dict]) -> None:
    """Append ``rows`` to the ledger table ``name`` (created on first use).

    Raises:
        StorageError: the store refused the write (full disk, read-only, unreachable).
    """
    if not rows:
        return
    schema = pa.schema([pa.field(k, t) for k, t in fields.items()])
    rows = [{k: redact(r[k]) if isinstance(r.get(k), str) else r.get(k) for k in fields}
            for r in rows]  # no secret is ever stored (errors, messages, config)
    data = pa.Table.from_pylist(rows, schema=schema)
    with storage_guard("append to", f"{db.uri}/{name}"):
        if table_exists(db, name):
            _add(db.open_table(name), data)
        else:
            try:
                db.create_table(name, data)
            except ValueError:  # created meanwhile by a concurrent run
                _add(db.open_table(name), data)


def _add(tbl: Any, data: pa.Table) -> None:
    """Append; a ledger table written by an older mmindex first gets the new columns (null)."""
    have = set(tbl.schema.names)
    missing = {f.name: f"CAST(NULL AS {_SQL_TYPES[f.type]})" for f in data.schema
               if f.name not in have}
    if missing:
        tbl.add_columns(missing)
    tbl.add(data)


_SQL_TYPES = {pa.float64(): "DOUBLE", pa.int64(): "BIGINT", pa.int32(): "INT",
              pa.string(): "STRING"}


def _read(db: Any, name: str, where: str | None = None) -> pa.Table | None:
    if not table_exists(db, name):
        return None
    q = db.open_table(name).search()
    if where:
        q = q.where(where)
    return q.limit(None).to_arrow()


def record_run(db: Any, row: dict[str, Any]) -> None:
    """Append a state row for a run (``status`` running | committed | failed | ...)."""
    row = dict(row, at=now())
    if isinstance(row.get("config"), dict):
        row["config"] = json.dumps(row["config"], sort_keys=True, default=str)
    append(db, RUNS, RUN_FIELDS, [row])


def close_stale_runs(db: Any, index: str, by: str, status: str = "crashed") -> list[str]:
    """Mark every run of ``index`` still ``running`` as ``status``: called by a run that holds
    the index's writer slot, so no other run of it can be alive (its process was killed, the
    machine rebooted). Returns their run ids."""
    stale = [r for r in runs(db, index) if r.get("status") == "running" and r["run_id"] != by]
    for r in stale:
        record_run(db, {"run_id": r["run_id"], "index": index, "status": status,
                        "error": f"the run stopped without finishing (found by run {by} at its "
                                 "start); a re-run reuses what it staged"})
    return [r["run_id"] for r in stale]


def runs(db: Any, index: str | None = None) -> list[dict[str, Any]]:
    """Latest state of every run (of ``index``), oldest first."""
    tbl = _read(db, RUNS, f"`index` = {sql_str(index)}" if index else None)
    if tbl is None:
        return []
    latest: dict[str, dict] = {}
    for r in sorted(tbl.to_pylist(), key=lambda r: r["at"]):
        latest[r["run_id"]] = {
            **latest.get(r["run_id"], {}),
            **{k: v for k, v in r.items() if v is not None},
        }
    return sorted(latest.values(), key=lambda r: r["started_at"] or r["at"])


def indexes(db: Any) -> list[str]:
    """Names of the indexes any run was recorded for, sorted."""
    tbl = _read(db, RUNS)
    return [] if tbl is None else sorted(set(tbl.column("index").to_pylist()))


def no_such_index(db: Any, name: str) -> str:
    """The message for an index name nothing was ever written to, with the names there are."""
    known = indexes(db)
    close = difflib.get_close_matches(name, known, n=1)
    return (f"no index named {name!r} in {db.uri}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
            + ". Help: " + (f"the indexes here are {', '.join(known)}; " if known else
                            "nothing was embedded into this database yet; ")
            + "check --index and --db (or the `db` setting).")


def get_run(db: Any, run_id: str) -> dict[str, Any] | None:
    found = [r for r in runs(db) if r["run_id"] == run_id]
    return found[0] if found else None


def quarantine(db: Any, rows: list[dict[str, Any]]) -> None:
    """Append quarantined items: run_id, index, item_id, reason, message, media."""
    append(db, QUARANTINE, QUARANTINE_FIELDS, [dict(r, at=now()) for r in rows])


def quarantined(db: Any, index: str, run_id: str | None = None) -> list[dict[str, Any]]:
    where = f"`index` = {sql_str(index)}" + (f" AND run_id = {sql_str(run_id)}" if run_id else "")
    tbl = _read(db, QUARANTINE, where)
    return [] if tbl is None else tbl.to_pylist()


def record_event(db: Any, **event: Any) -> dict[str, Any]:
    """Append a registry event.

    Fields: index, action, table_name, version, run_id, actor, reason, details.
    """
    if isinstance(event.get("details"), dict | list):
        event["details"] = json.dumps(event["details"], sort_keys=True, default=str)
    event["at"] = now()
    append(db, REGISTRY, REGISTRY_FIELDS, [event])
    return event


def events(db: Any, index: str) -> list[dict[str, Any]]:
    """Registry events of ``index``, oldest first."""
    tbl = _read(db, REGISTRY, f"`index` = {sql_str(index)}")
    return [] if tbl is None else sorted(tbl.to_pylist(), key=lambda r: r["at"])


def production(db: Any, index: str) -> dict[str, Any] | None:
    """The latest promote/rollback event of ``index`` (its ``table_name`` and ``version``)."""
    prod = [e for e in events(db, index) if e["action"] in PRODUCTION_ACTIONS]
    return prod[-1] if prod else None
