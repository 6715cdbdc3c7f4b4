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

from mmindex.index import ledger
from mmindex.index.promotion import PRODUCTION_TAG, set_tag
from mmindex.index.tables import table_exists


def _compact(tbl: Any) -> None:
    """Compact small files and bring indexes up to date (lancedb's ``optimize()`` would also
    run a 7-day cleanup that aborts on old tagged versions: pylance does the parts separately)."""
    ds = tbl.to_lance()
    ds.optimize.compact_files()
    ds.optimize.optimize_indices()


def _cleanup_untagged(tbl: Any, older_than: timedelta) -> None:
    """Delete untagged versions older than ``older_than``; tagged ones are kept.

    lancedb's ``optimize(cleanup_older_than=...)`` aborts as soon as a tagged version is older
    than the cutoff, which on a promoted index is always; pylance's cleanup can skip tagged
    versions instead (``error_if_tagged_old_versions=False``).
    """
    tbl.to_lance().cleanup_old_versions(older_than=older_than,
                                                error_if_tagged_old_versions=False)


def maintain(db: Any, index: str, *, older_than_days: float = 7.0) -> dict[str, Any]:
    """Compact every table of ``index`` in ``db``; drop untagged versions older than the cutoff."""
    prod = ledger.production(db, index)
    tables = sorted({r["table_name"] for r in ledger.runs(db, index) if r.get("table_name")})
    out: dict[str, Any] = {}
    for name in tables:
        if not table_exists(db, name):
            continue
        tbl = db.open_table(name)
        if prod and prod["table_name"] == name:
            set_tag(tbl, PRODUCTION_TAG, int(prod["version"]))
        for e in ledger.events(db, index):
            if e["table_name"] == name and e["action"] in ("promote", "rollback"):
                set_tag(tbl, f"promoted-v{e['version']}", int(e["version"]))
        before = len(tbl.list_versions())
        _compact(tbl)
        _cleanup_untagged(tbl, timedelta(days=older_than_days))
        tbl.checkout_latest()
        out[name] = {"versions_before": before, "versions_after": len(tbl.list_versions()),
                     "tags": sorted(tbl.tags.list())}
    return out
