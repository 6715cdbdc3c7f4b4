"""Full-text search over two (three with OCR) columns, searched together.

- ``text``: the item text, indexed with LanceDB's defaults (English stemming, stop words, ASCII
  folding; split on spaces and punctuation).
- ``fts_text``: the item text, the text OCR found in its images (``ocr_text``, setting ``ocr``)
  and the metadata fields named in ``fts_metadata_fields`` (e.g. a Korean caption), through an
  :class:`~mmindex.index.analysis.Analyzer`, indexed with LanceDB's ``whitespace`` tokenizer
  and nothing else (lower case; no stemming, stop words or folding).
- ``ocr_text`` (once a row has some): indexed like ``text``, for English stemming of figure text.

A query is one ``BooleanQuery`` of SHOULD clauses: the raw text against ``text`` (and
``ocr_text``) and the text through the same analyser against ``fts_text``; a row's score is the
sum of its BM25 scores.

``fts_text`` is derived by the commit from the stored ``text``, ``ocr_text`` and ``metadata``
columns, never by the model. What it was made with (:class:`FtsSpec`: analyser, its version, the
fields) is kept in the table's schema metadata, so it travels with every version. When a commit
finds a different spec (another analyser, kiwipiepy installed or removed, other fields, or a table
written before ``fts_text`` existed) it re-analyses every row first: one column rewritten, nothing
re-embedded (a table's versions before that still search on ``text`` alone, as they were).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

from mmindex.index.analysis import Analyzer, get_analyzer
from mmindex.index.tables import OCR_TEXT, partial_merge

TEXT, FTS_TEXT = "text", "fts_text"
META_KEY = b"mmindex.fts"
FTS_MEMORY_MB = 64  # a bounded build: the inverted index spills to disk beyond this


@dataclass(frozen=True)
class FtsSpec:
    """What ``fts_text`` is made of; recorded in the table's schema metadata."""

    analyzer: str
    version: str
    fields: tuple[str, ...] = ()

    @classmethod
    def current(cls, fields: Sequence[str]) -> FtsSpec:
        """The spec this process writes (Kiwi when installed) for metadata ``fields``."""
        a = get_analyzer()
        return cls(a.name, a.version, tuple(fields))

    @classmethod
    def of(cls, tbl: Any) -> FtsSpec | None:
        """The spec recorded on ``tbl`` (at its checked-out version); None when there is none."""
        raw = (tbl.schema.metadata or {}).get(META_KEY)
        if not raw or FTS_TEXT not in tbl.schema.names:
            return None
        d = json.loads(raw)
        return cls(d["analyzer"], d["version"], tuple(d.get("fields") or ()))

    def metadata(self) -> dict[str, str]:
        return {META_KEY.decode(): json.dumps(asdict(self), sort_keys=True)}

    def documents(self, texts: Sequence[str | None], metadata: Sequence[str | None],
                  ocr: Sequence[str | None] | None = None) -> list[str]:
        """The analysed ``fts_text`` of rows with these ``text``, ``metadata`` (JSON) and
        ``ocr_text`` values."""
        docs = []
        for text, meta, seen in zip(texts, metadata, ocr or [None] * len(texts), strict=True):
            values = [text or "", seen or ""]
            if self.fields and meta:
                m = json.loads(meta)
                values += [_as_text(m.get(f)) for f in self.fields]
            docs.append("\n".join(v for v in values if v))
        return get_analyzer(self.analyzer).analyse_many(docs)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ".join(_as_text(v) for v in value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def table_schema(row_schema: pa.Schema, spec: FtsSpec | None) -> pa.Schema:
    """An index table's schema: the rows' columns, then ``fts_text``, with ``spec`` recorded."""
    schema = row_schema.append(pa.field(FTS_TEXT, pa.string()))
    return schema.with_metadata(spec.metadata()) if spec else schema


def with_fts_text(rows: pa.Table | pa.RecordBatch, spec: FtsSpec | None):
    """``rows`` (text, metadata, ...) with their ``fts_text`` column (null when no ``spec``)."""
    values = (spec.documents(rows.column(TEXT).to_pylist(), rows.column("metadata").to_pylist(),
                             _ocr(rows)) if spec else [None] * rows.num_rows)
    return rows.append_column(pa.field(FTS_TEXT, pa.string()), pa.array(values, pa.string()))


def _ocr(rows: pa.Table | pa.RecordBatch) -> list[str | None] | None:
    return rows.column(OCR_TEXT).to_pylist() if OCR_TEXT in rows.schema.names else None


def analysed(reader: Iterator[pa.RecordBatch], schema: pa.Schema,
             spec: FtsSpec | None) -> pa.RecordBatchReader:
    """Staged batches with ``fts_text`` added, streamed (for ``merge_insert``)."""
    return pa.RecordBatchReader.from_batches(
        schema.remove_metadata(), (with_fts_text(b, spec).cast(schema.remove_metadata())
                                   for b in reader))


def reanalyse_if_stale(tbl: Any, spec: FtsSpec | None) -> bool:
    """Bring every row's ``fts_text`` to ``spec`` when the table records another; True if done.

    A table without the column (written before it existed) gets it first. Only ``id`` and
    ``fts_text`` are written back (a partial ``merge_insert``): vectors are not touched.
    """
    if spec is None or FtsSpec.of(tbl) == spec:
        return False
    if FTS_TEXT not in tbl.schema.names:
        tbl.add_columns({FTS_TEXT: "CAST(NULL AS STRING)"})
    out = pa.schema([pa.field("id", pa.string(), nullable=False), pa.field(FTS_TEXT, pa.string())])
    cols = ["id", TEXT, "metadata"] + [c for c in (OCR_TEXT,) if c in tbl.schema.names]
    batches = (pa.RecordBatch.from_arrays(
        [b.column("id"), pa.array(spec.documents(b.column(TEXT).to_pylist(),
                                                 b.column("metadata").to_pylist(), _ocr(b)))],
        schema=out) for b in tbl.search().select(cols).limit(None).to_batches(4096))
    if tbl.count_rows():
        partial_merge(tbl, pa.RecordBatchReader.from_batches(out, batches), update=True)
    tbl.to_lance().update_schema_metadata(spec.metadata())
    tbl.checkout_latest()
    return True


def create_fts_indexes(tbl: Any, *, replace_analysed: bool = False) -> None:
    """FTS indexes on ``text`` and ``fts_text`` where missing (``fts_text``'s again if asked)."""
    from lancedb.index import FTS

    have = {ix.columns[0] for ix in tbl.list_indices() if ix.index_type == "FTS"}
    if TEXT not in have:
        tbl.create_index(TEXT, config=FTS(with_position=False, memory_limit=FTS_MEMORY_MB),
                         replace=True)
    # figure text gets English stemming too, like ``text``, once a row has some (setting ocr):
    # on rendered Vaswani abstracts fts nDCG@10 0.732 without this index (fts_text alone), 0.786
    # with the same words as item text (docs/ocr.md)
    if (OCR_TEXT in tbl.schema.names and OCR_TEXT not in have
            and tbl.count_rows(f"{OCR_TEXT} IS NOT NULL AND {OCR_TEXT} != ''")):
        tbl.create_index(OCR_TEXT, config=FTS(with_position=False, memory_limit=FTS_MEMORY_MB),
                         replace=True)
    if FTS_TEXT in tbl.schema.names and (FTS_TEXT not in have or replace_analysed):
        # tokens are already cut: split on spaces only, keep them as they are; 128 bytes = 42
        # Hangul syllables (LanceDB's default 40 bytes would drop 14-syllable compounds)
        config = FTS(with_position=False, base_tokenizer="whitespace", lower_case=True,
                     stem=False, remove_stop_words=False, ascii_folding=False,
                     max_token_length=128, memory_limit=FTS_MEMORY_MB)
        tbl.create_index(FTS_TEXT, config=config, replace=True)


@dataclass(frozen=True)
class FtsSearch:
    """How to search one table version's full text: its indexed columns and query analyser."""

    columns: tuple[str, ...]
    analyzer: Analyzer | None

    @classmethod
    def of(cls, tbl: Any) -> FtsSearch:
        have = {ix.columns[0] for ix in tbl.list_indices() if ix.index_type == "FTS"}
        spec = FtsSpec.of(tbl)
        analyzer = get_analyzer(spec.analyzer) if spec and FTS_TEXT in have else None
        return cls(tuple(c for c in (TEXT, FTS_TEXT, OCR_TEXT) if c in have), analyzer)

    def query(self, text: str | None):
        """The full-text query for ``text`` (None when nothing in it can match)."""
        from lancedb.query import BooleanQuery, MatchQuery, Occur

        clauses = []
        for column in (TEXT, OCR_TEXT):  # raw text, analysed by the column's index
            if text and text.strip() and column in self.columns:
                clauses.append(MatchQuery(text, column))
        tokens = self.analyzer.analyse(text) if text and self.analyzer else ""
        if tokens:
            clauses.append(MatchQuery(tokens, FTS_TEXT))
        if len(clauses) < 2:
            return clauses[0] if clauses else None
        return BooleanQuery([(Occur.SHOULD, c) for c in clauses])
