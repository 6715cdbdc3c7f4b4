"""Index tables in LanceDB: names, the row schema, and small helpers every table user shares.

Layout inside one LanceDB database (a local directory or an object-store URI)::

    <index>__<model>__d<dims>      one table per (index name, model, dims): the vectors
    _staging__<table>              rows embedded by the current (or an interrupted) run
    _source_ids__<table>           the current run's source ids (deletion_policy=delete)
    _runs, _quarantine, _registry  lineage, bad items, promotion events (see ledger.py)
    _evaluations                   evaluation results (see mmindex.evaluation.runner)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from mmindex.errors import ConfigError, IndexNotFoundError

STAGING_PREFIX = "_staging__"
IDS_PREFIX = "_source_ids__"  # every id in the source, noted by the plan (deletion_policy=delete)
OCR_TEXT = "ocr_text"
_SLUG = re.compile(r"[^a-z0-9.-]+")


def index_schema(dims: int, parts: bool = False) -> pa.Schema:
    """Schema of an index table with ``dims``-dimensional vectors (``parts``: plus the
    :func:`part_fields`)."""
    base = pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dims)),
            pa.field("text", pa.string()),
            pa.field(OCR_TEXT, pa.string()),  # text found in the images (setting ocr), or null
            pa.field("images", pa.list_(pa.string())),
            pa.field("video", pa.string()),
            pa.field("metadata", pa.string()),  # JSON object of the manifest's extra columns
            pa.field("content_hash", pa.string()),
            pa.field("model_id", pa.string()),
            pa.field("dims", pa.int32()),
            pa.field("run_id", pa.string()),
            pa.field("embedded_at", pa.timestamp("us", tz="UTC")),
        ]
    )
    return pa.schema(list(base) + part_fields(dims)) if parts else base


#: The optional per-part vector columns (mmindex.backends.parts makes their vectors): the text
#: alone, the images alone, and their fused mean. Null where the item lacks the part.
PART_COLUMNS = ("vector_text", "vector_image", "vector_fused")


def part_fields(dims: int) -> list[pa.Field]:
    """The :data:`PART_COLUMNS` as nullable ``dims``-dimensional vector fields."""
    return [pa.field(c, pa.list_(pa.float32(), dims)) for c in PART_COLUMNS]


def has_parts(schema: pa.Schema) -> bool:
    """Whether a table (or staging table) has the per-part vector columns."""
    return all(c in schema.names for c in PART_COLUMNS)




def table_name(index: str, model_slug: str, dims: int) -> str:
    """The table holding ``index`` for one model and dimension (a model change = a new table)."""
    check_index_name(index)
    slug = _SLUG.sub("-", model_slug.lower()).strip("-") or "model"
    return f"{index}__{slug}__d{dims}"


def check_index_name(index: str) -> str:
    """``index`` when it can be part of a table name; ConfigError otherwise."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", index) or "__" in index:
        raise ConfigError(
            f"index name {index!r}: use letters, digits, '.', '-' and single '_' "
            "(it becomes part of a LanceDB table name). Help: e.g. --index exam-items"
        )
    return index


def table_exists(db: Any, name: str) -> bool:
    return name in set(db.list_tables().tables) if hasattr(db, "list_tables") else False


def open_table(db: Any, name: str) -> Any:
    try:
        return db.open_table(name)
    except (ValueError, FileNotFoundError) as exc:
        raise IndexNotFoundError(
            f"no table {name!r} in {db.uri}. Help: run `mmindex embed` first, or check --db."
        ) from exc


def read_hashes(db: Any, name: str) -> Iterator[pa.RecordBatch]:
    """``(id, content_hash)`` of every row at the table's head, streamed in batches (none when
    there is no table), so the caller never holds the whole column pair at once."""
    if not table_exists(db, name):
        return iter(())
    return hash_batches(db.open_table(name))



def hash_batches(tbl: Any) -> Iterator[pa.RecordBatch]:
    return iter(tbl.search().select(["id", "content_hash"]).limit(None).to_batches(8192))


def partial_merge(tbl: Any, source: Any, *, update: bool = False, delete: bool = False) -> dict:
    """A ``merge_insert`` on ``id`` of a few columns (``update``: matched rows take them;
    ``delete``: rows not in ``source`` go), through pylance; the counts.

    LanceDB's own merge would embed the rows' text again: the table names its embedding
    function (:mod:`mmindex.search.lancefn`), and a source without ``vector`` looks to LanceDB
    like rows to embed.
    """
    builder = tbl.to_lance().merge_insert("id")
    if update:
        builder = builder.when_matched_update_all()
    if delete:
        builder = builder.when_not_matched_by_source_delete()
    stats = builder.execute(source)
    tbl.checkout_latest()
    return stats


def sql_str(value: str) -> str:
    """A SQL string literal for LanceDB filters (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def id_filter(ids: list[str]) -> str:
    """``id IN (...)`` for a LanceDB ``where``/``delete`` filter."""
    return f"id IN ({','.join(map(sql_str, ids))})"


def delete_ids(tbl: Any, ids: list[str], chunk: int = 2000) -> None:
    for i in range(0, len(ids), chunk):
        tbl.delete(id_filter(ids[i : i + chunk]))


