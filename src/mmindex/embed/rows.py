"""Turning embedded items into index rows, buffered into large staging writes."""

from __future__ import annotations

import json
import time

import numpy as np
import pyarrow as pa

from mmindex.backends.base import Encoded, LoadedItem
from mmindex.embed.throughput import Meter
from mmindex.index import multivector
from mmindex.index.ledger import now
from mmindex.index.staging import Staging
from mmindex.index.tables import PART_COLUMNS, index_schema


def _vector_column(vectors: np.ndarray | None, n: int, dims: int) -> pa.Array:
    """A fixed-size-list column; rows with NaN (no such part) and a missing array are null."""
    if vectors is None:
        return pa.nulls(n, pa.list_(pa.float32(), dims))
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    missing = np.isnan(v).any(axis=1)
    flat = pa.array(np.nan_to_num(v).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(
        flat, dims, mask=pa.array(missing) if missing.any() else None)


def part_columns(vectors: dict[str, np.ndarray] | None, n: int, dims: int) -> dict[str, pa.Array]:
    """The part vector columns (:data:`~mmindex.index.tables.PART_COLUMNS`); all null when the
    run did not compute them (a table that has the columns, a run with part vectors off)."""
    return {c: _vector_column(None if vectors is None else vectors[c], n, dims)
            for c in PART_COLUMNS}


def to_rows(items: list[LoadedItem], encoded: Encoded, *, run_id: str, model_id: str, dims: int,
            parts: bool = False, multivector_dims: int | None = None) -> pa.Table:
    """Index rows (see :func:`mmindex.index.tables.index_schema`) for embedded items.

    ``encoded`` holds the items' vectors and, when computed, their part vectors and token
    vectors; ``parts``: the rows carry the part columns (null when not computed); with
    ``multivector_dims``, also each item's token vectors (``encoded.tokens``).
    """
    at = now()
    main = encoded.vectors
    bad = np.isnan(np.asarray(main, np.float32)).any(axis=1)
    if bad.any():  # part tables write with on_bad_vectors="null": never let this one through
        raise ValueError(f"the model returned NaN in the item vector of "
                         f"{[li.item.id for li, b in zip(items, bad, strict=True) if b][:5]}")
    extra = part_columns(encoded.parts, len(items), dims) if parts else {}
    table = pa.table(
        {
            "id": [li.item.id for li in items],
            "vector": _vector_column(main, len(items), dims),
            "text": [li.item.text if li.own_text is None else li.own_text for li in items],
            "ocr_text": [li.ocr_text for li in items],
            "images": [list(li.item.images) for li in items],
            "video": [li.item.video for li in items],
            "metadata": [json.dumps(li.item.metadata, ensure_ascii=False, sort_keys=True,
                                    default=str) for li in items],
            "content_hash": [li.content_hash for li in items],
            "model_id": [model_id] * len(items),
            "dims": pa.array([dims] * len(items), pa.int32()),
            "run_id": [run_id] * len(items),
            "embedded_at": pa.array([at] * len(items), pa.timestamp("us", tz="UTC")),
            **extra,
        },
        schema=index_schema(dims, parts),
    )
    if multivector_dims is None:
        return table
    if encoded.tokens is None:
        raise ValueError("a multi-vector index needs the token vectors of every item; the model "
                         "returned none")
    return table.append_column(multivector.field(multivector_dims), multivector.column(
        list(encoded.tokens), multivector_dims))


#: Buffered bytes that also trigger a staging write: 8,192 ColPali pages of token vectors
#: (~0.5 MiB each) would otherwise wait in memory as 4 GiB.
STAGE_BYTES = 256 * 2**20


class RowBuffer:
    """Collects embedded rows and appends them to staging ``stage_rows`` (or
    :data:`STAGE_BYTES`) at a time."""

    def __init__(self, staging: Staging, run_id: str, model_id: str, dims: int, stage_rows: int,
                 meter: Meter, stale: set[str]):
        self.staging, self.run_id, self.model_id, self.dims = staging, run_id, model_id, dims
        self.stage_rows, self.meter, self.stale = stage_rows, meter, stale
        self.replaced: set[str] = set()
        self._parts: list[pa.Table] = []
        self._n = self._bytes = 0

    def add(self, items: list[LoadedItem], encoded: Encoded) -> None:
        self._parts.append(to_rows(items, encoded, run_id=self.run_id, model_id=self.model_id,
                                   dims=self.dims, parts=self.staging.parts,
                                   multivector_dims=self.staging.multivector_dims))
        self._n += len(items)
        self._bytes += self._parts[-1].nbytes
        if self._n >= self.stage_rows or self._bytes >= STAGE_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._parts:
            return
        t0 = time.perf_counter()
        rows = pa.concat_tables(self._parts)
        ids = rows.column("id").to_pylist()
        replace = [i for i in ids if i in self.stale]
        self.replaced.update(replace)
        self.staging.append(rows, replace_ids=replace)
        self._parts, self._n, self._bytes = [], 0, 0
        self.meter.add_time("write", time.perf_counter() - t0)
