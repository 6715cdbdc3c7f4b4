"""What ``mmindex versions`` shows: runs, candidate versions, decisions, the production pointer.

One row per committed version (:func:`version_rows`), with what became of it: ``production``,
``was production`` (a later version was promoted), ``rolled back`` (production was rolled back
away from it: before, such a version still showed "promote"), ``rejected`` or ``candidate`` (no
decision yet); runs that committed nothing (failed, crashed, running) get a row each.

Version numbers are LanceDB's: they count every commit to a table (its creation, each index
build, each merge), so a new table's first run is typically ``v4``, not ``v1``. ``nth`` counts
the committed versions of each table instead.
"""

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
        "versions": version_rows(runs, events, prod),
        "production": None if prod is None else {
            "table": prod["table_name"], "version": prod["version"], "at": prod["at"],
            "action": prod["action"], "actor": prod["actor"], "reason": prod["reason"]},
        "runs": runs,
        "tags": tags,
        "events": [{k: e[k] for k in ("action", "table_name", "version", "run_id", "actor",
                                       "reason", "at")} for e in events],
    }


def version_states(events: list[dict[str, Any]],
                   prod: dict[str, Any] | None) -> dict[tuple[str, int], dict[str, Any]]:
    """What became of each decided version, by (table, version): ``state`` and its history
    (``events``: "promote (gate)", "rollback to v4 (manual): reason", ...)."""
    out: dict[tuple[str, int], dict[str, Any]] = {}

    def at(table: str, version: int) -> dict[str, Any]:
        return out.setdefault((table, version), {"state": "candidate", "events": []})

    current: tuple[str, int] | None = None
    for e in events:
        key = (e["table_name"], e["version"])
        what = (f"rollback from v{current[1]}" if e["action"] == "rollback" and current
                else e["action"])
        who = f"{what} ({e['actor']})" + (f": {e['reason']}" if e["reason"] and
                                          e["actor"] != "gate" else "")
        if e["action"] == "reject":
            at(*key).update(state="rejected")
            at(*key)["events"].append(who)
        elif e["action"] in ledger.PRODUCTION_ACTIONS:
            if current is not None and current != key:
                at(*current)["state"] = ("rolled back" if e["action"] == "rollback"
                                         else "was production")
                if e["action"] == "rollback":
                    at(*current)["events"].append(f"rolled back to v{key[1]} ({e['actor']})")
            at(*key).update(state="production")
            at(*key)["events"].append(who)
            current = key
    if prod is not None:  # the registry's pointer decides, whatever the history says
        at(prod["table_name"], prod["version"])["state"] = "production"
    return out


def version_rows(runs: list[dict[str, Any]], events: list[dict[str, Any]],
                 prod: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per committed (table, version) in the order first committed, plus one per run
    that committed nothing; ``nth``: the how-manieth committed version of its table this is."""
    states = version_states(events, prod)
    rows: dict[Any, dict[str, Any]] = {}
    nth: dict[str, int] = {}
    for r in runs:
        if r["version"] is None or r["status"] != "committed":
            rows[r["run_id"]] = {**_row(r), "version": r["version"], "nth": None,
                                 "state": r["status"], "events": [], "runs": 1}
            continue
        key = (r["table"], r["version"])
        if key in rows:  # a re-run that changed nothing names the same version
            rows[key]["runs"] += 1
            continue
        nth[r["table"]] = nth.get(r["table"], 0) + 1
        st = states.get(key, {"state": "candidate", "events": []})
        rows[key] = {**_row(r), "version": r["version"], "nth": nth[r["table"]],
                     "state": st["state"], "events": st["events"], "runs": 1}
    for (table, version), st in states.items():  # decided versions no run recorded (rare)
        if (table, version) not in rows:
            rows[(table, version)] = {"table": table, "version": version, "nth": None,
                                      "state": st["state"], "events": st["events"], "runs": 0,
                                      "run_id": None, "started_at": None, "model": None,
                                      "embedded": None, "quarantined": None, "rows": None,
                                      "error": None}
    return list(rows.values())


def _row(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r.get(k) for k in ("table", "run_id", "started_at", "model", "embedded",
                                  "quarantined", "rows", "error")}
