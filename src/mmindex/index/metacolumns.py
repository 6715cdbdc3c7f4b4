"""The manifest's metadata as typed columns: the struct column ``meta``.

Every index row keeps its metadata twice: ``metadata``, the JSON object of the manifest's extra
columns (what the content hash, ``fts_text`` and ``to_polars(expand_metadata=True)`` read), and
``meta``, a struct with one typed field per metadata key, which LanceDB's SQL filters use::

    tbl.search(vector).where("meta.category = 'animals'", prefilter=True)
    tbl.search().where("meta.year >= 2020 AND meta.lang = 'ko'")

``meta`` is derived by the commit from the staged ``metadata`` (never by the model), like
``fts_text``. A field's type is inferred from every value the table and the run hold:

- JSON booleans -> ``bool``; integers -> ``int64``; numbers with a fraction -> ``float64``
  (integers and fractions mixed -> ``float64``); strings -> ``string``;
- lists, objects and mixed kinds (e.g. ``3`` and ``"3a"``) -> ``string`` (lists and objects as
  their JSON text); a key absent from a row, or null, is null in that row.

When a run brings a field the table does not have, or a value its type cannot hold (a string
where the column was ``int64``), the commit widens the struct first (``int64`` -> ``float64`` ->
``string``) and rewrites the ``meta`` column of every row from the stored JSON (one column
rewritten, nothing re-embedded, no row dropped); fields no longer in the manifest stay, null in
new rows. A table written before ``meta`` existed gets it on its next commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

META = "meta"
_TYPES = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "string": pa.string()}
_KIND_OF = {v: k for k, v in _TYPES.items()}
_INT64 = 2**63


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if -_INT64 <= value < _INT64 else "string"
    if isinstance(value, float):
        return "float"
    return "string"


def _join(a: str | None, b: str | None) -> str | None:
    if a is None or a == b:
        return b
    if b is None:
        return a
    if {a, b} == {"int", "float"}:
        return "float"
    return "string"


def infer(metadata: Iterable[str | None], kinds: dict[str, str | None] | None = None
          ) -> dict[str, str | None]:
    """Each key's kind (bool, int, float, string; None: only nulls seen) over ``metadata``
    JSON objects, joined with the ``kinds`` known already (key order: known keys first)."""
    out = dict(kinds or {})
    for raw in metadata:
        if not raw:
            continue
        for key, value in json.loads(raw).items():
            out[key] = _join(out.get(key), _kind(value))
    return out


def kinds_of(schema: pa.Schema) -> dict[str, str | None] | None:
    """The kinds of a table's ``meta`` struct; None when the table has no such column."""
    if META not in schema.names:
        return None
    return {f.name: _KIND_OF.get(f.type, "string") for f in schema.field(META).type}


def struct_type(kinds: dict[str, str | None]) -> pa.StructType | None:
    """The ``meta`` type for ``kinds`` (only-null keys as strings); None when there are no keys
    (a manifest without metadata: no ``meta`` column)."""
    if not kinds:
        return None
    return pa.struct([pa.field(k, _TYPES[v or "string"]) for k, v in kinds.items()])


def _convert(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "string":
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if kind == "float":
        return float(value)
    return value


def column(metadata: Iterable[str | None], type_: pa.StructType) -> pa.StructArray:
    """The ``meta`` values of rows with these ``metadata`` JSON objects."""
    kinds = [(f.name, _KIND_OF.get(f.type, "string")) for f in type_]
    rows = []
    for raw in metadata:
        m = json.loads(raw) if raw else {}
        rows.append({k: _convert(m.get(k), kind) for k, kind in kinds})
    return pa.array(rows, type_)


def with_meta(batch: pa.RecordBatch | pa.Table, type_: pa.StructType | None):
    """``batch`` (with its ``metadata`` column) plus ``meta`` (unchanged when ``type_`` is
    None)."""
    if type_ is None:
        return batch
    return batch.append_column(pa.field(META, type_),
                               column(batch.column("metadata").to_pylist(), type_))


def metadata_batches(tbl: Any) -> Iterator[pa.RecordBatch]:
    return iter(tbl.search().select(["metadata"]).limit(None).to_batches(8192))


def scan(batches: Iterable[pa.RecordBatch], kinds: dict[str, str | None] | None = None
         ) -> dict[str, str | None]:
    """:func:`infer` over the ``metadata`` column of ``batches``."""
    out = dict(kinds or {})
    for b in batches:
        out = infer(b.column("metadata").to_pylist(), out)
    return out


def evolve(tbl: Any, staged: dict[str, str | None]) -> pa.StructType | None:
    """Bring ``tbl``'s ``meta`` column to the kinds it and the ``staged`` rows need; the type.

    Rewrites the column (from every row's ``metadata``) only when a key is new or a kind widened.
    """
    have = kinds_of(tbl.schema)
    base = have if have is not None else scan(metadata_batches(tbl))
    wanted = dict(base)
    for key, kind in staged.items():
        wanted[key] = _join(wanted.get(key), kind)
    type_ = struct_type(wanted)
    if type_ is None or (have is not None and tbl.schema.field(META).type == type_):
        return type_
    if have is not None:
        tbl.drop_columns([META])

    def meta_of(batch: pa.RecordBatch) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays([column(batch.column("metadata").to_pylist(), type_)],
                                          schema=pa.schema([pa.field(META, type_)]))

    tbl.to_lance().add_columns(meta_of, read_columns=["metadata"])
    tbl.checkout_latest()
    return type_
