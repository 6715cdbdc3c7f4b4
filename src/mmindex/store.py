"""Index tables in LanceDB: schema, staging, the once-per-run commit, and indexes.

Layout inside one LanceDB database (a local directory or an object-store URI)::

    <index>__<model>__d<dims>      one table per (index name, model, dims): the vectors
    _staging__<table>              rows embedded by the current (or an interrupted) run
    _runs, _quarantine, _registry  lineage, bad items, promotion events (see ledger.py)

A run never writes the index table batch by batch. Batches go to the staging table (appends
are safe and cheap); the run commits once at the end with a single ``merge_insert`` on ``id``
(plus one for deletions), so the table grows by a handful of versions per run, not one per batch,
and a crash before the commit leaves the index exactly as it was. The first run of a table has
nothing to merge with: it creates the table and appends the staged rows in fixed-size pieces
(bounded memory); the candidate is the version after the last piece and the index builds, and a
crash between pieces leaves the staging table for the next run to merge. A restarted run finds
the staging table and reuses the rows whose content hash still matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from mmindex.errors import IndexNotFoundError, StorageError

STAGING_PREFIX = "_staging__"
_SLUG = re.compile(r"[^a-z0-9.-]+")


def index_schema(dims: int) -> pa.Schema:
    """Schema of an index table with ``dims``-dimensional vectors."""
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dims)),
            pa.field("text", pa.string()),
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


def table_name(index: str, model_slug: str, dims: int) -> str:
    """The table holding ``index`` for one model and dimension (a model change = a new table)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", index) or "__" in index:
        raise ValueError(
            f"index name {index!r}: use letters, digits, '.', '-' and single '_' "
            "(it becomes part of a LanceDB table name)"
        )
    slug = _SLUG.sub("-", model_slug.lower()).strip("-") or "model"
    return f"{index}__{slug}__d{dims}"


@dataclass(frozen=True)
class CommitResult:
    """What one commit did to the index table."""

    table: str
    version: int
    inserted: int
    updated: int
    deleted: int
    rows: int


def connect(uri: str, storage_options: dict[str, str] | None = None) -> Any:
    """Open the LanceDB database at ``uri``; unreachable storage raises StorageError."""
    import lancedb

    try:
        return lancedb.connect(uri, storage_options=storage_options or None)
    except Exception as exc:  # lancedb raises plain OSError/ValueError/RuntimeError here
        raise StorageError(
            f"cannot open LanceDB at {uri}: {exc}. Help: check the --db URI and its credentials."
        ) from exc


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
    return _hash_batches(db.open_table(name))


def _hash_batches(tbl: Any) -> Iterator[pa.RecordBatch]:
    return iter(tbl.search().select(["id", "content_hash"]).limit(None).to_batches(8192))


class Staging:
    """The staging table of one index table: where a run's embedded rows wait for the commit."""

    def __init__(self, db: Any, table: str, dims: int):
        self.db, self.table, self.dims = db, table, dims
        self.name = STAGING_PREFIX + table
        self._tbl = db.open_table(self.name) if table_exists(db, self.name) else None

    def hashes(self) -> Iterator[pa.RecordBatch]:
        """Rows staged by an earlier, interrupted run (reused when their hash still matches)."""
        if self._tbl is None:
            return iter(())
        if self._tbl.schema.field("vector").type.list_size != self.dims:
            self.drop()
            return iter(())
        return _hash_batches(self._tbl)

    def append(self, rows: pa.Table, replace_ids: list[str] | None = None) -> None:
        """Append rows; ``replace_ids`` are stale staged rows of the same ids, removed first."""
        if self._tbl is None:
            self._tbl = self.db.create_table(self.name, schema=index_schema(self.dims))
        if replace_ids:
            _delete_ids(self._tbl, replace_ids)
        self._tbl.add(rows.cast(index_schema(self.dims)))

    def remove(self, ids: list[str]) -> None:
        """Drop staged rows that must not reach the index (their item reverted or vanished)."""
        if ids and self._tbl is not None:
            _delete_ids(self._tbl, ids)

    def count(self) -> int:
        return 0 if self._tbl is None else self._tbl.count_rows()

    def reader(self) -> pa.RecordBatchReader:
        return self._tbl.search().limit(None).to_batches(8192)

    def drop(self) -> None:
        if table_exists(self.db, self.name):
            self.db.drop_table(self.name)
        self._tbl = None


def sql_str(value: str) -> str:
    """A SQL string literal for LanceDB filters (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def id_filter(ids: list[str]) -> str:
    """``id IN (...)`` for a LanceDB ``where``/``delete`` filter."""
    return f"id IN ({','.join(map(sql_str, ids))})"


def _delete_ids(tbl: Any, ids: list[str], chunk: int = 2000) -> None:
    for i in range(0, len(ids), chunk):
        tbl.delete(id_filter(ids[i : i + chunk]))


def commit(
    db: Any,
    staging: Staging,
    *,
    seen_ids: pa.Array | None,
    delete_missing: bool,
    fts: bool,
    ann_min_rows: int,
) -> CommitResult:
    """Merge the staged rows into the index table in one ``merge_insert``; apply deletions.

    Args:
        seen_ids: every id the source holds now (good and quarantined); with
            ``delete_missing`` rows whose id is not among them are deleted.
        fts: (re)build the full-text index on ``text``.
        ann_min_rows: build the ANN vector index once the table has this many rows.
    """
    name, dims = staging.table, staging.dims
    inserted = updated = deleted = 0
    created = not table_exists(db, name)
    if created:
        # first run: no merge; the staged rows are copied in bounded pieces
        tbl = db.create_table(name, schema=index_schema(dims))
        for piece in _pieces(staging.reader(), tbl.schema, FIRST_WRITE_ROWS):
            tbl.add(piece)
        inserted = tbl.count_rows()
    elif staging.count():
        tbl = db.open_table(name)
        res = (
            tbl.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
            .execute(staging.reader())
        )
        inserted, updated = res.num_inserted_rows, res.num_updated_rows
    else:
        tbl = db.open_table(name)
    if delete_missing and seen_ids is not None and not created and _has_missing(tbl, seen_ids):
        res = tbl.merge_insert("id").when_not_matched_by_source_delete().execute(
            pa.table({"id": pa.array(seen_ids, pa.string())})
        )
        deleted = res.num_deleted_rows
    rows = tbl.count_rows()
    if inserted or updated or deleted or not tbl.list_indices():
        build_indexes(tbl, fts=fts, ann_min_rows=ann_min_rows, rows=rows)
    staging.drop()
    return CommitResult(name, tbl.version, inserted, updated, deleted, rows)


FIRST_WRITE_ROWS = 16384


def _pieces(batches: Iterator[pa.RecordBatch], schema: pa.Schema, rows: int) -> Iterator[pa.Table]:
    """Regroup a stream of batches into tables of about ``rows`` rows.

    LanceDB's writer buffers up to 8 MiB per column before it writes a page, so one
    ``create_table(data=reader)`` over 200k short rows held them all: +75 MiB of peak RSS over a
    10k-row run (``mmindex bench`` case ``memory``). Appending in pieces bounds that to one
    piece; the first run's table gets one version per piece (a 200k-row run: 13 pieces).
    """
    buf: list[pa.RecordBatch] = []
    n = 0
    for b in batches:
        while b.num_rows:
            take = b.slice(0, rows - n)
            buf.append(take)
            n += take.num_rows
            b = b.slice(take.num_rows)
            if n == rows:
                yield pa.Table.from_batches(buf, schema)
                buf, n = [], 0
    if buf:
        yield pa.Table.from_batches(buf, schema)


def _has_missing(tbl: Any, seen_ids: pa.Array) -> bool:
    """Whether the table holds ids the source no longer has (no commit when there are none)."""
    import polars as pl

    ids = pl.from_arrow(tbl.search().select(["id"]).limit(None).to_arrow())
    seen = pl.DataFrame({"id": pl.Series("id", seen_ids, dtype=pl.String)})
    return ids.join(seen, on="id", how="anti").height > 0


def build_indexes(tbl: Any, *, fts: bool, ann_min_rows: int, rows: int) -> None:
    """Full-text index on ``text`` always (cheap); an IVF_PQ index once the table is large.

    Below ``ann_min_rows`` exact (brute-force) search is fast and exact, so no ANN index is
    built. IVF_PQ partitions ~ sqrt(rows) and 1 sub-vector per 16 dims (``mmindex bench`` case
    ``search`` measures the recall they give; search refines with exact distances).

    Once indexes exist, a night's changes are merged into them incrementally (new rows appended
    to the index, no retraining): retraining IVF_PQ on 200k x 1024 takes minutes and would make a
    1% change cost as much as a full build. The vector index is retrained when the table has grown
    by more than ``RETRAIN_GROWTH`` since it was trained.
    """
    from lancedb.index import FTS, IvfPq

    if not rows:
        return
    indexes = tbl.list_indices()
    has_fts = any(ix.index_type == "FTS" for ix in indexes)
    vec = next((ix for ix in indexes if "vector" in ix.columns), None)
    if indexes:
        optimize_indices(tbl)  # incremental: existing indexes take the new rows
    if fts and not has_fts:
        # a bounded build: the inverted index spills to disk instead of growing with the corpus
        tbl.create_index("text", config=FTS(with_position=False, memory_limit=FTS_MEMORY_MB),
                         replace=True)
    if rows >= ann_min_rows and (vec is None or vec.num_indexed_rows * RETRAIN_GROWTH < rows):
        dims = tbl.schema.field("vector").type.list_size
        config = IvfPq(
            distance_type="cosine",
            num_partitions=max(1, int(rows**0.5)),
            num_sub_vectors=max(1, dims // 16),
        )
        tbl.create_index("vector", config=config, replace=True)


RETRAIN_GROWTH = 1.2
FTS_MEMORY_MB = 64


def optimize_indices(tbl: Any) -> None:
    """Merge unindexed rows into the existing indexes, without compaction or version cleanup.

    lancedb's ``optimize()`` also cleans up versions older than 7 days, and refuses to when a
    tagged (promoted) version is that old; pylance's optimizer does the index part alone.
    """
    lance_dataset(tbl).optimize.optimize_indices()
    tbl.checkout_latest()  # the lancedb handle must see pylance's new version


def lance_dataset(tbl: Any) -> Any:
    """The pylance dataset behind a LanceDB table (same storage options as its connection).

    pylance is used where LanceDB's API lacks a knob: index-only optimisation, cleanup that
    respects tags.
    """
    import lance

    return lance.dataset(tbl.uri, storage_options=_options(tbl))


def _options(tbl: Any) -> dict[str, str] | None:
    return getattr(getattr(tbl, "_conn", None), "storage_options", None) or None
