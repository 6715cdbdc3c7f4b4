"""Turning manifest rows into items.

A row is a plain dict read by a format reader (:mod:`mmindex.extract.readers`).
:class:`RowConverter` maps it through a resolved :class:`~mmindex.extract.fieldmap.FieldMap`,
resolves relative media references against the manifest's directory, makes metadata JSON-able,
and rejects rows without an id, with a repeated id, or with values of the wrong type as
:class:`BadRecord`
``bad_record``: one bad row never stops a run.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mmindex.errors import shorten
from mmindex.extract.fieldmap import FieldMap
from mmindex.extract.filesystem import ref_resolver
from mmindex.items import BadRecord, Item


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (numpy/arrow scalars, dates, decimals converted).

    Non-finite floats become None. Raises TypeError for bytes and unknown objects.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return jsonable(float(value))
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def _preview(row: dict[str, Any]) -> dict[str, Any]:
    """A small JSON-able copy of a bad row for the quarantine table."""
    out: dict[str, Any] = {}
    for k, v in list(row.items())[:32]:
        try:
            v = jsonable(v)
        except TypeError:
            v = repr(v)
        if isinstance(v, str) and len(v) > 200:
            v = v[:200] + "…"
        out[str(k)] = v
    return out


class _Bad(Exception):
    pass


class SeenIds:
    """Ids seen so far, as 64-bit hashes in sorted arrays: ~8 bytes per id, not ~100.

    Each chunk's new hashes become a small sorted run; runs are merged into one big sorted array
    now and then (log-structured), so lookups stay vectorised and memory stays flat. Python's
    ``hash`` of the id is used: it only has to agree within one pass over a source. A collision
    (p ~ n^2 / 2^65; ~3e-6 at 10M ids) would flag a false duplicate.
    """

    def __init__(self) -> None:
        self._big = np.empty(0, dtype=np.int64)
        self._runs: list[np.ndarray] = []

    def first_times(self, ids: Sequence[str]) -> list[bool]:
        """Record ``ids`` in order; for each, True unless it was seen before (also in ``ids``)."""
        hashes = np.fromiter((hash(i) for i in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(hashes)
        keys = hashes[order]  # searchsorted is much faster with sorted needles (cache locality)
        hit = np.zeros(len(keys), dtype=bool)
        for run in (self._big, *self._runs):
            if len(run):
                pos = np.minimum(np.searchsorted(run, keys), len(run) - 1)
                hit |= run[pos] == keys
        seen = np.empty_like(hit)
        seen[order] = hit
        first = np.zeros(len(hashes), dtype=bool)
        first[np.unique(hashes, return_index=True)[1]] = True  # first occurrence in this chunk
        new = first & ~seen
        if new.any():
            self._runs.append(np.sort(hashes[new]))
        if len(self._runs) > 16:
            self._runs = [self._merge(self._runs)]
        if sum(len(r) for r in self._runs) > max(65536, len(self._big) // 8):
            self._big, self._runs = self._merge([self._big, *self._runs]), []
        return new.tolist()

    @staticmethod
    def _merge(runs: list[np.ndarray]) -> np.ndarray:
        merged = np.concatenate(runs)
        merged.sort(kind="stable")  # timsort: merging sorted runs is near-linear
        return merged


_PLAIN = (str, int, bool, type(None))


class RowConverter:
    """Turns manifest rows into :class:`Item` (or :class:`BadRecord`) for one source."""

    def __init__(self, fields: FieldMap, base_dir: str, *, first: int = 0,
                 dups: set[int] | None = None):
        """``fields`` must be resolved (:meth:`FieldMap.with_defaults`). A group that starts
        at record ``first`` gets ``dups``, the records (numbered from the manifest's start) that
        the plan's pass found repeating an earlier id: ids before ``first`` are not read again."""
        self.fields = fields
        self._resolve = ref_resolver(base_dir)
        self._used = fields.used_columns()
        self._seen = SeenIds() if dups is None else None
        self._dups = dups
        self.position = first  # the next record's number in the manifest
        self.dup_positions: list[int] = []  # records found repeating an id (the plan's pass)

    def convert_many(self, rows: Sequence[tuple[str, dict[str, Any] | BadRecord]]) -> list[
            Item | BadRecord]:
        """Convert ``(where, row)`` pairs (``where`` like "line 12" locates the row in messages);
        bad records pass through, and rows repeating an earlier id become bad records."""
        out: list[Item | BadRecord] = []
        for where, row in rows:
            out.append(row if isinstance(row, BadRecord) else self._convert(row, where))
        good = [k for k, x in enumerate(out) if isinstance(x, Item)]
        base, self.position = self.position, self.position + len(out)
        if self._seen is not None:
            firsts = self._seen.first_times([out[k].id for k in good])  # type: ignore[union-attr]
        else:
            firsts = [base + k not in self._dups for k in good]  # type: ignore[operator]
        for k, first in zip(good, firsts, strict=True):
            if not first:
                self.dup_positions.append(base + k)
                where, row = rows[k]
                msg = f"{where}: duplicate id {shorten(out[k].id)} (the first row with it is kept)"
                out[k] = BadRecord("bad_record", msg, id=out[k].id, raw=_preview(row))
        return out

    def _convert(self, row: dict[str, Any], where: str) -> Item | BadRecord:
        f = self.fields
        item_id = None
        try:
            item_id = self._id(row.get(f.id))
            text = f.text_sep.join(
                self._text(row, col) for col in f.text if row.get(col) not in (None, "")
            )
            images = tuple(ref for col in f.images for ref in self._refs(row, col))
            video = self._refs(row, f.video) if f.video else []
            if len(video) > 1:
                raise _Bad(f"column {f.video!r} holds {len(video)} videos; one is supported")
            names = f.metadata
            if names is None:
                names = [k for k in row if k not in self._used]
            try:
                metadata = {
                    str(k): v if type(v) in _PLAIN else jsonable(v)
                    for k in names
                    for v in (row.get(k),)
                }
            except TypeError as exc:
                raise _Bad(
                    f"metadata is not JSON-able ({exc}); choose metadata columns with "
                    "--field metadata=COL1,COL2"
                ) from None
        except _Bad as exc:
            return BadRecord("bad_record", f"{where}: {exc}", id=item_id, raw=_preview(row))
        return Item(item_id, text, images, video[0] if video else None, metadata)

    def _id(self, value: Any) -> str:
        if type(value) is str and value.strip():
            return value
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            return str(int(value))
        if value is None or value == "":
            raise _Bad(f"no id (column {self.fields.id!r} is missing or empty)")
        raise _Bad(f"id column {self.fields.id!r} holds {type(value).__name__}; need str or int")

    @staticmethod
    def _text(row: dict[str, Any], col: str) -> str:
        value = row[col]
        if not isinstance(value, str):
            raise _Bad(f"text column {col!r} holds {type(value).__name__}; need a string")
        return value

    def _refs(self, row: dict[str, Any], col: str) -> list[str]:
        value = row.get(col)
        if value is None or value == "":
            return []
        if isinstance(value, str) and value.lstrip().startswith("["):
            try:  # CSV cells can hold a JSON list of references
                value = json.loads(value)
            except ValueError:
                raise _Bad(f"media column {col!r} holds a malformed JSON list") from None
        if isinstance(value, str):
            return [self._resolve(value)]
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) and v for v in value
        ):
            raise _Bad(f"media column {col!r} must hold a path or a list of paths, got "
                       f"{shorten(value)}")
        return [self._resolve(v) for v in value]
