"""The multi-vector column of late-interaction models (ColPali, ColQwen2) and MaxSim search.

A table embedded by a multi-vector model has one more column beside the pooled ``vector``:
``multivector``, LanceDB's multivector type ``list<fixed_size_list<float32, d>>`` holding the
item's L2-normalised token vectors (a few dozen for a text, ~1,000 for a ColPali page).

Search (:func:`search`), score = MaxSim = sum over query tokens of the best cosine with any of
the document's tokens (what the models were trained for):

- ``first_stage=0``: LanceDB's own multivector search over every row (cosine; it returns
  ``_distance = query tokens - MaxSim``, turned back into MaxSim here);
- ``first_stage=N``: the pooled ``vector``'s exact top ``N`` first, then MaxSim over those N
  rows only (numpy): far less work on a large table, at the price of what the pooled vector
  misses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from mmindex.errors import ConfigError

COLUMN = "multivector"


def field(dims: int) -> pa.Field:
    """The ``multivector`` column's field: token vectors of ``dims`` floats."""
    return pa.field(COLUMN, pa.list_(pa.list_(pa.float32(), dims)))


def with_column(schema: pa.Schema, dims: int | None) -> pa.Schema:
    """``schema`` plus the multivector column (unchanged when ``dims`` is None)."""
    return schema if dims is None or COLUMN in schema.names else schema.append(field(dims))


def column(tokens: list[np.ndarray], dims: int) -> pa.Array:
    """Arrow ``multivector`` values for per-item token arrays ``(tokens_i, dims)``."""
    flat = pa.array(np.concatenate([np.asarray(t, np.float32).reshape(-1, dims)
                                    for t in tokens]).reshape(-1))
    vectors = pa.FixedSizeListArray.from_arrays(flat, dims)
    offsets = pa.array(np.concatenate([[0], np.cumsum([len(t) for t in tokens])]), pa.int32())
    return pa.ListArray.from_arrays(offsets, vectors, type=field(dims).type)


def token_arrays(values: pa.ChunkedArray | pa.Array, dims: int) -> list[np.ndarray]:
    """Per-row ``(tokens, dims)`` numpy views of a multivector column (no Python lists:
    ``to_pylist`` made re-scoring 100 rows of 128 tokens take ~0.3 s)."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    flat = arr.values.flatten().to_numpy(zero_copy_only=False).reshape(-1, dims)
    offsets = arr.offsets.to_numpy()
    return [flat[offsets[i]:offsets[i + 1]] for i in range(len(arr))]


def dims_of(tbl: Any) -> int | None:
    """Token-vector dimension of the table's multivector column; None when it has none."""
    schema = tbl.schema
    if COLUMN not in schema.names:
        return None
    return int(schema.field(COLUMN).type.value_type.list_size)


def require(tbl: Any) -> int:
    """The table's token-vector dimension.

    Raises:
        ConfigError: the table has no multivector column; the message says what to do.
    """
    dims = dims_of(tbl)
    if dims is None:
        raise ConfigError("this index has no multivector column: it was not embedded by a "
                          "multi-vector model. Help: use --mode vector/fts/hybrid here, or embed "
                          "with --model colpali-v1.3 / colqwen2-v1.0 / tiny-colpali.")
    return dims


def maxsim(query: np.ndarray, doc: np.ndarray) -> float:
    """Late-interaction score of one document for one query (both token matrices)."""
    if not len(doc):
        return 0.0
    return float((np.asarray(query, np.float32) @ np.asarray(doc, np.float32).T).max(1).sum())


def search(tbl: Any, query: np.ndarray, *, k: int, first_stage: int = 0,
           pooled: np.ndarray | None = None) -> list[tuple[str, float]]:
    """``[(id, MaxSim)]`` best first for the query's token vectors ``(tokens, dims)``.

    Args:
        first_stage: 0 for LanceDB's MaxSim over every row; N > 0 to re-score the pooled
            vector's exact top ``max(N, k)`` (``pooled``: the query's pooled vector, by default
            the renormalised mean of its tokens, as the documents' are made).

    Raises:
        ConfigError: the table has no multivector column or the dimensions differ.
    """
    dims = require(tbl)
    q = np.asarray(query, np.float32)
    if q.ndim != 2 or q.shape[1] != dims:
        raise ConfigError(f"query token vectors {q.shape}: the index's are {dims}-dimensional")
    if first_stage <= 0:
        # exhaustive even if someone built an index on the column: IVF_PQ there measured
        # recall@10 0.02-0.27 (python -m bench.multivector --ivf, docs/late-interaction.md)
        res = (tbl.search(q, vector_column_name=COLUMN).distance_type("cosine")
               .bypass_vector_index().select(["id", "_distance"]).limit(k).to_arrow())
        n = float(len(q))
        return [(i, n - d) for i, d in zip(res["id"].to_pylist(), res["_distance"].to_pylist(),
                                           strict=True)]
    if pooled is None:
        mean = q.mean(0)
        pooled = mean / max(float(np.linalg.norm(mean)), 1e-12)
    cand = (tbl.search(np.asarray(pooled, np.float32), vector_column_name="vector")
            .distance_type("cosine").bypass_vector_index().select(["id", "_distance", COLUMN])
            .limit(max(first_stage, k)).to_arrow())
    scored = [(i, maxsim(q, d)) for i, d in zip(cand["id"].to_pylist(),
                                                 token_arrays(cand[COLUMN], dims), strict=True)]
    scored.sort(key=lambda x: x[1], reverse=True)
    return scored[:k]
