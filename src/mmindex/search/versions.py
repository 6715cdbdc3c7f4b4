"""Which table and version a reader opens: production, or a version asked for."""

from __future__ import annotations

from typing import Any

from mmindex.errors import IndexNotFoundError
from mmindex.index import ledger


def resolve(db: Any, name: str, version: int | None = None,
            table: str | None = None) -> tuple[str, int]:
    """(table, version) for a reader: production unless a version is asked for.

    Raises:
        IndexNotFoundError: no index of that name, no production version yet (the message names
            the candidate to evaluate), or no table holding ``version``.
    """
    prod = ledger.production(db, name)
    runs = ledger.runs(db, name)
    if prod is None and not runs:
        raise IndexNotFoundError(ledger.no_such_index(db, name))
    if version is None:
        if prod is None:
            latest = latest_candidate(db, name)
            raise IndexNotFoundError(
                f"index {name!r} has no production version yet"
                + (f" (its latest candidate is v{latest[1]})" if latest else "")
                + ". Help: `mmindex evaluate --index NAME --promote` gates the candidate "
                "(or `mmindex promote`); `--version N` reads a candidate as it is.")
        return prod["table_name"], int(prod["version"])
    if table is None:
        same = [r for r in runs if r.get("version") == version]
        table = same[-1]["table_name"] if same else (prod or {}).get("table_name")
    if table is None:
        raise IndexNotFoundError(f"index {name!r}: no table holds version {version}. Help: "
                                 "`mmindex versions --index NAME` lists them.")
    return table, int(version)


def latest_candidate(db: Any, name: str) -> tuple[str, int] | None:
    """(table, version) of the newest committed run of ``name``, whatever its decision."""
    done = [r for r in ledger.runs(db, name)
            if r.get("status") == "committed" and r.get("version") is not None]
    return (done[-1]["table_name"], int(done[-1]["version"])) if done else None
