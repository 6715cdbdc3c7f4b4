"""Operator views over the ledger: the indexes of a database (``mmindex indexes``) and what
was quarantined, why and since when (``mmindex quarantine``).

The ``_quarantine`` table gets a row per item per run, so an item that is bad every night (the
sample's two image-only items in an unsupported format) shows up once per night; the view folds
them into one row per item and reason: first and last seen, how many runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mmindex.index import ledger
from mmindex.index.tables import table_exists


def describe_indexes(db: Any) -> list[dict[str, Any]]:
    """One row per index that any run was recorded for: its tables, model, dims, production
    version, rows in production, LanceDB versions of the production table, and its last run."""
    out = []
    all_runs = ledger.runs(db)
    for name in ledger.indexes(db):
        runs = [r for r in all_runs if r.get("index") == name]
        prod = ledger.production(db, name)
        last = runs[-1] if runs else {}
        tables = list(dict.fromkeys(r["table_name"] for r in runs if r.get("table_name")))
        table = prod["table_name"] if prod else (tables[-1] if tables else None)
        of_table = [r for r in runs if r.get("table_name") == table]
        model_run = of_table[-1] if of_table else last
        rows = versions = None
        if table and table_exists(db, table):
            tbl = db.open_table(table)
            versions = len(tbl.list_versions())
            if prod:
                tbl.checkout(int(prod["version"]))
            rows = tbl.count_rows()
        out.append({
            "index": name, "tables": tables, "model": model_run.get("model"),
            "dims": model_run.get("dims"),
            "production": None if prod is None else {
                "table": prod["table_name"], "version": prod["version"], "at": prod["at"],
                "action": prod["action"]},
            "rows": rows, "table_versions": versions,
            "last_run": None if not last else {
                k: last.get(k) for k in ("run_id", "status", "started_at", "at", "version",
                                         "table_name", "embedded", "quarantined", "error")},
        })
    return out


def quarantine_history(db: Any, index: str, since: datetime | None = None) -> dict[str, Any]:
    """Quarantined items of ``index`` (rows at or after ``since``), one row per item and reason:
    ``first_seen``, ``last_seen``, ``runs`` (how many runs quarantined it), the latest message and
    media, and whether the latest run that quarantined anything quarantined it too (``current``).

    Raises:
        IndexNotFoundError: nothing was ever recorded for ``index``.
    """
    from mmindex.errors import IndexNotFoundError

    if index not in ledger.indexes(db):
        raise IndexNotFoundError(ledger.no_such_index(db, index))
    rows = sorted(ledger.quarantined(db, index), key=lambda r: r["at"])
    if since is not None:
        rows = [r for r in rows if r["at"] >= since]
    latest_run = rows[-1]["run_id"] if rows else None
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["item_id"], r["reason"])
        row = items.setdefault(key, {"item_id": r["item_id"], "reason": r["reason"],
                                     "first_seen": r["at"], "run_ids": set()})
        row.update(last_seen=r["at"], message=r["message"], media=r["media"],
                   last_run=r["run_id"])
        row["run_ids"].add(r["run_id"])
    out = []
    for row in sorted(items.values(), key=lambda x: (x["last_seen"], x["item_id"]),
                      reverse=True):
        run_ids = row.pop("run_ids")
        out.append({**row, "runs": len(run_ids), "current": row["last_run"] == latest_run})
    by_reason: dict[str, int] = {}
    for row in out:
        by_reason[row["reason"]] = by_reason.get(row["reason"], 0) + 1
    return {"index": index, "since": since, "items": out, "by_reason": by_reason,
            "runs_with_quarantine": len({r["run_id"] for r in rows}),
            "latest_run": latest_run}
