"""Change detection: which items are unchanged (in the table), already staged, or to embed.

Each item's content hash (:mod:`mmindex.embed.contenthash`) is compared with the index table's
and the staging table's, so unchanged items are skipped before any model work and a retried group
reuses what an earlier attempt staged.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa


class HashIndex:
    """Which items are unchanged (in the table), already staged, stale-staged, or to embed.

    Holds 16 bytes per known row, whatever the corpus size: each side (index table, staging
    table) is a sorted array of ``hash(id)`` with a parallel array of ``hash(id + content
    hash)``. A lookup is a vectorised ``searchsorted`` per chunk. Both hashes are Python's
    (SipHash, 64-bit), so they only have to agree within this process, which is where the index
    lives. A wrong answer needs two independent 64-bit collisions on the same pair of rows.
    """

    def __init__(self, table_hashes: Iterable[pa.RecordBatch],
                 staged_hashes: Iterable[pa.RecordBatch]):
        self._table = _KeyedHashes(table_hashes)
        self._staged = _KeyedHashes(staged_hashes)
        self.stale_staged: set[str] = set()

    def classify(self, hashes: dict[str, str]) -> dict[str, str]:
        if not hashes:
            return {}
        ids = list(hashes)
        keys, values = _keys(ids, hashes.values())
        _, same_table = self._table.lookup(keys, values)
        in_staged, same_staged = self._staged.lookup(keys, values)
        out = {}
        for k, id_ in enumerate(ids):
            if same_table[k]:
                out[id_] = "unchanged"
                if in_staged[k] and not same_staged[k]:  # an interrupted run staged a newer version
                    self.stale_staged.add(id_)
            elif same_staged[k]:
                out[id_] = "staged"
            else:
                if in_staged[k]:
                    self.stale_staged.add(id_)
                out[id_] = "embed"
        return out


def _keys(ids: Iterable[str], hashes: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    ids = list(ids)
    keys = np.fromiter((hash(i) for i in ids), dtype=np.int64, count=len(ids))
    values = np.fromiter((hash(f"{i}\0{h}") for i, h in zip(ids, hashes, strict=True)),
                         dtype=np.int64, count=len(ids))
    return keys, values


class _KeyedHashes:
    """(id, content_hash) rows as two int64 arrays sorted by the id's hash (see HashIndex)."""

    def __init__(self, batches: Iterable[pa.RecordBatch]):
        parts = [_keys(b.column("id").to_pylist(), b.column("content_hash").to_pylist())
                 for b in batches if b.num_rows]
        keys = np.concatenate([k for k, _ in parts]) if parts else np.empty(0, np.int64)
        values = np.concatenate([v for _, v in parts]) if parts else np.empty(0, np.int64)
        order = np.argsort(keys, kind="stable")
        self.keys, self.values = keys[order], values[order]

    def lookup(self, keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each key: whether the id is here, and whether its content hash is the same."""
        if not len(self.keys):
            none = np.zeros(len(keys), dtype=bool)
            return none, none
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = self.keys[pos] == keys
        return found, found & (self.values[pos] == values)
