"""The once-per-run commit: staged rows into the index table, deletions, and its indexes.

The run commits once at the end with a single ``merge_insert`` on ``id`` (plus one for deletions),
so the table grows by a handful of versions per run, not one per batch, and a crash before the
commit leaves the index exactly as it was. The first run of a table has nothing to merge with: it
creates the table and appends the staged rows in fixed-size pieces (bounded memory); the candidate
is the version after the last piece and the index builds, and a crash between pieces leaves the
staging table for the next run to merge.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from mmindex.index import fulltext, metacolumns
from mmindex.index.staging import Staging
from mmindex.index.tables import OCR_TEXT, has_parts, part_fields, partial_merge, table_exists


@dataclass(frozen=True)
class CommitResult:
    """What one commit did to the index table."""

    table: str
    version: int
    inserted: int
    updated: int
    deleted: int
    rows: int


def commit_staged(
    db: Any,
    staging: Staging,
    *,
    seen_ids: pa.Array | None,
    delete_missing: bool,
    fts: bool,
    ann_min_rows: int,
    fts_fields: Sequence[str] = (),
    embedding: dict[str, str] | None = None,
) -> CommitResult:
    """Merge the staged rows into the index table in one ``merge_insert``; apply deletions.

    Args:
        seen_ids: every id the source holds now (good and quarantined); with
            ``delete_missing`` rows whose id is not among them are deleted.
        fts: (re)build the full-text indexes and analyse ``fts_text`` (see
            :mod:`mmindex.index.fulltext`).
        ann_min_rows: build the ANN vector index once the table has this many rows.
        fts_fields: metadata fields analysed into ``fts_text`` with the text. A table whose
            ``fts_text`` was made otherwise is re-analysed first (no re-embedding).
        embedding: schema metadata naming the table's LanceDB embedding function
            (``{"embedding_functions": JSON}``, see :mod:`mmindex.search.lancefn`), written on
            the table so plain LanceDB can embed a query.

    The metadata fields also become the typed struct column ``meta``
    (:mod:`mmindex.index.metacolumns`).
    """
    name, dims = staging.table, staging.dims
    spec = fulltext.FtsSpec.current(fts_fields) if fts else None
    staged_kinds = metacolumns.scan(staging.batches(["metadata"]))
    inserted = updated = deleted = 0
    created = not table_exists(db, name)
    reanalysed = False
    # a part column is null where the item lacks that part; LanceDB calls a null vector "bad"
    # and refuses it unless told to keep it null (the item vector is never null)
    bad = {"on_bad_vectors": "null"} if staging.parts else {}
    if created:
        # first run: no merge; the staged rows are copied in bounded pieces
        meta = metacolumns.struct_type(staged_kinds)
        schema = _schema(staging, meta, spec, embedding)
        tbl = db.create_table(name, schema=schema)
        for piece in _pieces(staging.reader(), staging.schema, FIRST_WRITE_ROWS):
            tbl.add(fulltext.with_fts_text(metacolumns.with_meta(piece, meta), spec), **bad)
        inserted = tbl.count_rows()
    else:
        tbl = db.open_table(name)
        if OCR_TEXT not in tbl.schema.names:  # a table written before OCR existed: null for all
            tbl.add_columns({OCR_TEXT: "CAST(NULL AS STRING)"})
        if staging.parts and not has_parts(tbl.schema):  # part vectors just turned on
            tbl.add_columns(part_fields(dims))  # all null until this merge fills them
        reanalysed = fulltext.reanalyse_if_stale(tbl, spec)
        meta = metacolumns.evolve(tbl, staged_kinds)  # new fields, widened types: rewritten
        schema = _schema(staging, meta, spec, embedding)
        if embedding is not None and _embedding_meta(tbl) != embedding:
            tbl.to_lance().update_schema_metadata(embedding)
            tbl.checkout_latest()
    if not created and staging.count():
        staged = (metacolumns.with_meta(b, meta) for b in staging.reader())
        res = (
            tbl.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
            .execute(fulltext.analysed(staged, schema, spec), **bad)
        )
        inserted, updated = res.num_inserted_rows, res.num_updated_rows
    if delete_missing and seen_ids is not None and not created and _has_missing(tbl, seen_ids):
        deleted = partial_merge(tbl, pa.table({"id": pa.array(seen_ids, pa.string())}),
                                delete=True)["num_deleted_rows"]
    rows = tbl.count_rows()
    if inserted or updated or deleted or reanalysed or not tbl.list_indices():
        build_indexes(tbl, fts=fts, ann_min_rows=ann_min_rows, rows=rows, reanalysed=reanalysed)
    staging.drop()
    return CommitResult(name, tbl.version, inserted, updated, deleted, rows)


FIRST_WRITE_ROWS = 16384


def _schema(staging: Staging, meta: pa.StructType | None, spec: fulltext.FtsSpec | None,
            embedding: dict[str, str] | None) -> pa.Schema:
    """The index table's schema: staged columns, ``meta``, ``fts_text``; the schema metadata."""
    rows = staging.schema if meta is None else staging.schema.append(
        pa.field(metacolumns.META, meta))
    schema = fulltext.table_schema(rows, spec)
    return schema.with_metadata({**(schema.metadata or {}), **(embedding or {})})


def _embedding_meta(tbl: Any) -> dict[str, str] | None:
    raw = (tbl.schema.metadata or {}).get(b"embedding_functions")
    return None if raw is None else {"embedding_functions": raw.decode()}


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


def build_indexes(tbl: Any, *, fts: bool, ann_min_rows: int, rows: int,
                  reanalysed: bool = False) -> None:
    """Full-text indexes always (cheap); an IVF_PQ index once the table is large.

    Below ``ann_min_rows`` exact (brute-force) search is fast and exact, so no ANN index is
    built. IVF_PQ partitions ~ sqrt(rows) and 1 sub-vector per 16 dims (``mmindex bench`` case
    ``search`` measures the recall they give; search refines with exact distances).

    Once indexes exist, a night's changes are merged into them incrementally (new rows appended
    to the index, no retraining): retraining IVF_PQ on 200k x 1024 takes minutes and would make a
    1% change cost as much as a full build. The vector index is retrained when the table has grown
    by more than ``RETRAIN_GROWTH`` since it was trained.
    """
    from lancedb.index import IvfPq

    if not rows:
        return
    indexes = tbl.list_indices()
    vec = next((ix for ix in indexes if "vector" in ix.columns), None)
    if indexes:
        optimize_indices(tbl)  # incremental: existing indexes take the new rows
    if fts:  # where missing; fts_text's rebuilt whole after a re-analysis of every row
        fulltext.create_fts_indexes(tbl, replace_analysed=reanalysed)
    if rows >= ann_min_rows and (vec is None or vec.num_indexed_rows * RETRAIN_GROWTH < rows):
        dims = tbl.schema.field("vector").type.list_size
        config = IvfPq(
            distance_type="cosine",
            num_partitions=max(1, int(rows**0.5)),
            num_sub_vectors=max(1, dims // 16),
        )
        tbl.create_index("vector", config=config, replace=True)


RETRAIN_GROWTH = 1.2


def optimize_indices(tbl: Any) -> None:
    """Merge unindexed rows into the existing indexes, without compaction or version cleanup.

    lancedb's ``optimize()`` also cleans up versions older than 7 days, and refuses to when a
    tagged (promoted) version is that old; pylance's optimizer does the index part alone.
    """
    tbl.to_lance().optimize.optimize_indices()  # same storage options as the connection
    tbl.checkout_latest()  # the lancedb handle must see pylance's new version
