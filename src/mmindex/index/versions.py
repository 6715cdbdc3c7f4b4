"""What ``mmindex versions`` shows: runs, candidate versions, decisions, the production pointer."""

from __future__ import annotations

from typing import Any

from mmindex.errors import IndexNotFoundError
from mmindex.index import ledger
from mmindex.index.tables import table_exists


def describe_versions(db: Any, index: str) -> dict[str, Any]:
    """Runs of ``index`` in ``db`` (newest last) with their version and gate decision, plus
    production."""
    events = ledger.events(db, index)
    prod = ledger.production(db, index)
    if prod is None and not events and not ledger.runs(db, index):
        raise IndexNotFoundError(ledger.no_such_index(db, index))
    # the latest decision about each version wins: a manual promote after a rejection shows
    # "promote", not "reject"
    decisions = {(e["table_name"], e["version"]): e["action"] for e in events
                 if e["action"] in ("promote", "reject")}
    runs = [
        {
            "run_id": r["run_id"], "table": r.get("table_name"), "version": r.get("version"),
            "status": r.get("status"),
            "decision": decisions.get((r.get("table_name"), r.get("version"))),
            "started_at": r.get("started_at"), "model": r.get("model"),
            "embedded": r.get("embedded", 0), "skipped_unchanged": r.get("skipped_unchanged", 0),
            "quarantined": r.get("quarantined", 0), "deleted": r.get("deleted", 0),
            "rows": r.get("rows"), "items_per_s": r.get("items_per_s"), "error": r.get("error"),
        }
        for r in ledger.runs(db, index)
    ]
    tables = sorted({r["table"] for r in runs if r["table"]})
    tags = {}
    for t in tables:
        if table_exists(db, t):
            tags[t] = {k: v["version"] for k, v in db.open_table(t).tags.list().items()}
    return {
        "index": index,
        "production": None if prod is None else {
            "table": prod["table_name"], "version": prod["version"], "at": prod["at"],
            "action": prod["action"], "actor": prod["actor"], "reason": prod["reason"]},
        "runs": runs,
        "tags": tags,
        "events": [{k: e[k] for k in ("action", "table_name", "version", "run_id", "actor",
                                       "reason", "at")} for e in events],
    }
