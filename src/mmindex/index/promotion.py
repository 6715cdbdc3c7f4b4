"""Moving the production pointer: promote, reject, rollback.

The registry (``_registry`` table, see :mod:`mmindex.index.ledger`) is the source of truth: the
production version of an index is the table + version named by its latest promote/rollback
event, and appending that event is one atomic Lance commit. Tags mirror it on the table itself
for raw-LanceDB readers: ``production`` moves; ``promoted-v<N>`` / ``rejected-v<N>`` stay, so
every promoted version remains readable (time travel) and cleanup never removes it (tagged
versions are exempt from ``cleanup_old_versions``).
"""

from __future__ import annotations

from typing import Any

from mmindex.errors import IndexNotFoundError
from mmindex.index import ledger
from mmindex.index.tables import open_table

PRODUCTION_TAG = "production"


def set_tag(tbl: Any, tag: str, version: int) -> None:
    if tag in tbl.tags.list():
        tbl.tags.update(tag, version)
    else:
        tbl.tags.create(tag, version)


def _check_version(tbl: Any, version: int) -> None:
    if version not in {v["version"] for v in tbl.list_versions()}:
        raise IndexNotFoundError(
            f"table {tbl.name} has no version {version}. "
            "Help: `mmindex versions --index ...` lists them."
        )


def _tagged(db: Any, table: str, version: int, *tags: str) -> Any:
    """Open ``table``, check it has ``version``, and point each of ``tags`` at it."""
    tbl = open_table(db, table)
    _check_version(tbl, version)
    for tag in tags:
        set_tag(tbl, tag, version)
    return tbl


def promote(db: Any, index: str, table: str, version: int, *, run_id: str | None = None,
            actor: str = "gate", reason: str = "", details: Any = None) -> dict[str, Any]:
    """Make ``table@version`` the production version of ``index`` (a manual promote of a
    rejected candidate overrules the gate: the version loses its ``rejected-v<N>`` tag)."""
    tbl = _tagged(db, table, version, f"promoted-v{version}", PRODUCTION_TAG)
    if f"rejected-v{version}" in tbl.tags.list():
        tbl.tags.delete(f"rejected-v{version}")
    return ledger.record_event(db, index=index, action="promote", table_name=table,
                               version=version, run_id=run_id, actor=actor, reason=reason,
                               details=details)


def reject(db: Any, index: str, table: str, version: int, *, run_id: str | None = None,
           actor: str = "gate", reason: str = "", details: Any = None) -> dict[str, Any]:
    """Mark a candidate rejected; keep it (tagged) for inspection, production untouched.

    When production lives in the same table, the table's head is restored to it, so the next
    run computes its changes against production rather than against the rejected candidate.
    """
    _tagged(db, table, version, f"rejected-v{version}")
    _restore_head(db, index, table)
    return ledger.record_event(db, index=index, action="reject", table_name=table,
                               version=version, run_id=run_id, actor=actor, reason=reason,
                               details=details)


def rollback(db: Any, index: str, *, version: int | None = None, table: str | None = None,
             reason: str = "", actor: str = "manual") -> dict[str, Any]:
    """Point production back at an earlier promoted version (default: the one before now)."""
    promoted = [e for e in ledger.events(db, index) if e["action"] in ledger.PRODUCTION_ACTIONS]
    if not promoted:
        raise IndexNotFoundError(f"index {index!r} has no production version to roll back from.")
    current = promoted[-1]
    if version is None:
        current_key = (current["table_name"], current["version"])
        earlier = [e for e in promoted if (e["table_name"], e["version"]) != current_key]
        if not earlier:
            raise IndexNotFoundError(
                f"index {index!r} has only one production version. Help: pass --version."
            )
        target_table, version = earlier[-1]["table_name"], earlier[-1]["version"]
    else:
        target_table = table or current["table_name"]
    _tagged(db, target_table, version, PRODUCTION_TAG)
    event = ledger.record_event(db, index=index, action="rollback", table_name=target_table,
                                version=version, actor=actor, reason=reason,
                                details={"from": [current["table_name"], current["version"]]})
    _restore_head(db, index, target_table)
    return event


def _restore_head(db: Any, index: str, table: str) -> None:
    prod = ledger.production(db, index)
    if prod and prod["table_name"] == table:
        tbl = db.open_table(table)
        if tbl.version != prod["version"]:
            tbl.restore(prod["version"])
