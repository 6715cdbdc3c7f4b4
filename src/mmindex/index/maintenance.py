"""Compaction and cleanup that never remove a promoted, rejected or production version.

``cleanup_old_versions`` exempts tagged versions, and every promoted/rejected version carries a
tag (see :mod:`mmindex.index.promotion`). Before cleaning, production is re-tagged from the
registry, so even a tag removed by hand cannot expose production to cleanup. lance#8705 (tags plus
cleanup stranding data files in some releases) is covered by a test that reads every tagged
version back after maintenance.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mmindex.errors import ConfigError, require
from mmindex.index import ledger
from mmindex.index.locking import writer_lock
from mmindex.index.promotion import PRODUCTION_TAG, set_tag
from mmindex.index.tables import table_exists


def _compact(tbl: Any) -> None:
    """Compact small files and bring indexes up to date (lancedb's ``optimize()`` would also
    run a 7-day cleanup that aborts on old tagged versions: pylance does the parts separately)."""
    ds = tbl.to_lance()
    ds.optimize.compact_files()
    ds.optimize.optimize_indices()


def _cleanup_untagged(tbl: Any, older_than: timedelta, keep_from: int) -> None:
    """Delete untagged versions older than ``older_than``; tagged ones are kept, and so is
    every version from ``keep_from`` on (production and anything newer: a candidate that waits
    for its evaluation must stay readable, even after compaction made it old).

    lancedb's ``optimize(cleanup_older_than=...)`` aborts as soon as a tagged version is older
    than the cutoff, which on a promoted index is always; pylance's cleanup can skip tagged
    versions instead (``error_if_tagged_old_versions=False``).
    """
    keep = sum(1 for v in tbl.list_versions() if v["version"] >= keep_from)
    tbl.to_lance().cleanup_old_versions(older_than=older_than, retain_versions=max(1, keep),
                                        error_if_tagged_old_versions=False)


def _keep_from(events: list[dict[str, Any]], prod: dict[str, Any] | None,
               name: str) -> int | None:
    """The oldest version of table ``name`` maintenance must keep with everything after it:
    production's when it lives here, else the newest decided one; None when none was decided
    (a new model's table whose candidate waits for the gate: left alone)."""
    if prod and prod["table_name"] == name:
        return int(prod["version"])
    decided = [int(e["version"]) for e in events if e["table_name"] == name
               and e["action"] in ("promote", "reject", "rollback")]
    return max(decided) if decided else None


def maintain(db: Any, index: str, *, older_than_days: float = 7.0) -> dict[str, Any]:
    """Compact every table of ``index`` in ``db``; drop untagged versions older than the cutoff.

    Holds the index's writer lock (a run in flight makes it fail with IndexBusyError instead of
    compacting under the run), and never removes production, a tagged version, or any version
    newer than production.
    """
    require("lance", "maintenance (compaction, cleanup)", ConfigError)  # pylance: the write extra
    with writer_lock(db.uri, index, "maintain"):
        prod = ledger.production(db, index)
        events = ledger.events(db, index)
        tables = sorted({r["table_name"] for r in ledger.runs(db, index) if r.get("table_name")})
        out: dict[str, Any] = {}
        for name in tables:
            if not table_exists(db, name):
                continue
            tbl = db.open_table(name)
            keep_from = _keep_from(events, prod, name)
            if keep_from is None:
                out[name] = {"skipped": "no version of this table was evaluated yet",
                             "tags": sorted(tbl.tags.list())}
                continue
            if prod and prod["table_name"] == name:
                set_tag(tbl, PRODUCTION_TAG, int(prod["version"]))
            for e in events:
                if e["table_name"] == name and e["action"] in ("promote", "rollback"):
                    set_tag(tbl, f"promoted-v{e['version']}", int(e["version"]))
            before = len(tbl.list_versions())
            _compact(tbl)
            _cleanup_untagged(tbl, timedelta(days=older_than_days), keep_from)
            tbl.checkout_latest()
            out[name] = {"versions_before": before, "versions_after": len(tbl.list_versions()),
                         "tags": sorted(tbl.tags.list())}
    return out
