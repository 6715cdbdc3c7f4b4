"""Search results as a polars DataFrame, and as JSON-ready rows (``mmindex search --json``)."""

from __future__ import annotations

import json
from typing import Any

STAGED = {"_first_score": "Float64", "_rerank_score": "Float64", "_rerank_error": "String",
          "_cluster": "Int64"}


def hits_frame(hits: list[Any], rows: dict[str, dict[str, Any]], columns: tuple[str, ...],
               schema: Any, staged: bool = False):
    """``id``, ``score`` (and with post-steps ``_first_score``, ``_rerank_score``,
    ``_rerank_error``, ``_cluster``), then ``columns`` of each hit's row, in rank order, with
    the table's types (``schema``)."""
    import polars as pl

    cols: dict[str, Any] = {"id": [h.id for h in hits], "score": [h.score for h in hits]}
    dtypes: dict[str, Any] = {"id": pl.String, "score": pl.Float64}
    if staged:
        cols |= {"_first_score": [h.first_score for h in hits],
                 "_rerank_score": [h.rerank_score for h in hits],
                 "_rerank_error": [h.rerank_error for h in hits],
                 "_cluster": [h.cluster for h in hits]}
        dtypes |= {c: getattr(pl, t) for c, t in STAGED.items()}
    order = pl.DataFrame(cols, schema=dtypes)
    if not columns:
        return order
    import pyarrow as pa

    types = pa.schema([schema.field(c).with_nullable(True) for c in columns])
    got = pa.Table.from_pylist([{c: rows.get(h.id, {}).get(c) for c in columns} for h in hits],
                               schema=types)
    return pl.concat([order, pl.from_arrow(got)], how="horizontal")


def json_row(row: dict[str, Any]) -> dict[str, Any]:
    """A result row for ``--json``: a JSON-string ``metadata`` column becomes an object."""
    out = dict(row)
    meta = out.get("metadata")
    if isinstance(meta, str):
        try:
            out["metadata"] = json.loads(meta)
        except ValueError:
            pass
    return out
