"""The analysts' view: open the production index and search it.

>>> import mmindex
>>> idx = mmindex.open_index("items")            # production version, read-only
>>> idx.to_polars().head()                        # the rows, as a polars DataFrame
>>> idx.search("광합성 과정", k=5, mode="hybrid")   # embeds the query with the index's own model

The raw-LanceDB way (no mmindex): ``db.open_table(t).checkout("production")`` where ``t`` is
the index's table (``mmindex versions --index items`` prints it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mmindex import ledger, store
from mmindex.errors import ConfigError, IndexNotFoundError

Mode = Literal["vector", "ann", "fts", "hybrid"]
MODES = ("vector", "ann", "fts", "hybrid")


@dataclass
class Index:
    """A read-only, version-pinned view of one index table."""

    name: str
    table_name: str
    version: int
    model: str
    dims: int
    table: Any  # lancedb LanceTable checked out at ``version``
    query_instruction: str | None = None

    def to_polars(self):
        """All rows as a polars DataFrame (``metadata`` is a JSON string column)."""
        return self.table.to_polars().collect() if hasattr(self.table.to_polars(), "collect") \
            else self.table.to_polars()

    def to_arrow(self):
        return self.table.to_arrow()

    def embed_query(self, text: str | None = None, image: str | Path | None = None) -> np.ndarray:
        """The query vector, embedded with this index's model and its query instruction."""
        from mmindex.backends import embed_items, load_embedder
        from mmindex.items import Item

        if not text and not image:
            raise ConfigError("a search needs text, an image, or both")
        emb = load_embedder(self.model, query_instruction=self.query_instruction)
        item = Item(id="query", text=text or "", images=(str(image),) if image else ())
        return embed_items(emb, [item], role="query", dims=self.dims)[0]

    def search(self, text: str | None = None, *, image: str | Path | None = None, k: int = 10,
               mode: Mode = "vector", vector: np.ndarray | None = None):
        """Top-``k`` rows as a polars DataFrame with a ``score`` column (higher is better).

        Modes: ``vector`` exact cosine search; ``ann`` the vector index (exact below the size
        where one is built); ``fts`` full-text (BM25) on ``text``; ``hybrid`` vector + full-text
        fused with reciprocal rank fusion (RRF, k=60).
        """
        import polars as pl

        if mode not in MODES:
            raise ConfigError(f"mode {mode!r}: use one of {', '.join(MODES)}")
        cols = ["id", "text", "images", "video", "metadata"]
        if mode == "fts":
            if not text:
                raise ConfigError("full-text search needs query text")
            res = self.table.search(text, query_type="fts").select(cols).limit(k).to_arrow()
            return _scored(pl.from_arrow(res), "_score", lambda s: s)
        q = self.embed_query(text, image) if vector is None else vector
        if mode == "hybrid" and text:
            from lancedb.rerankers import RRFReranker

            res = (self.table.search(query_type="hybrid").vector(q).text(text)
                   .distance_type("cosine").select(cols).rerank(RRFReranker()).limit(k).to_arrow())
            return _scored(pl.from_arrow(res), "_relevance_score", lambda s: s)
        qb = self.table.search(q).distance_type("cosine").select(cols).limit(k)
        if mode == "vector":
            qb = qb.bypass_vector_index()
        return _scored(pl.from_arrow(qb.to_arrow()), "_distance", lambda d: 1.0 - d)


def _scored(df, col: str, fn):
    import polars as pl

    if col in df.columns:
        df = df.with_columns(fn(pl.col(col)).alias("score")).drop(col)
    return df


def resolve(db: Any, name: str, version: int | None = None,
            table: str | None = None) -> tuple[str, int]:
    """(table, version) for a reader: production unless a version is asked for."""
    prod = ledger.production(db, name)
    if version is None:
        if prod is None:
            raise IndexNotFoundError(
                f"index {name!r} has no production version yet. Help: run `mmindex evaluate` on "
                "its candidate (or `mmindex promote`), or pass version= to read a candidate."
            )
        return prod["table_name"], int(prod["version"])
    if table is None:
        runs = [r for r in ledger.runs(db, name) if r.get("version") == version]
        table = runs[-1]["table_name"] if runs else (prod or {}).get("table_name")
    if table is None:
        raise IndexNotFoundError(f"index {name!r}: no table holds version {version}")
    return table, int(version)


def open_index(name: str, db: str | None = None, *, version: int | None = None,
               table: str | None = None, storage_options: dict[str, str] | None = None) -> Index:
    """Open ``name``'s production version (or ``version``) read-only.

    Args:
        name: index name, as given to ``mmindex embed --index``.
        db: LanceDB URI (default: the project's settings, e.g. ``.mmindex/db``).
        version: a specific table version (time travel), e.g. a rejected candidate.
        table: with ``version``, the table that holds it when it is ambiguous.
    """
    from mmindex.config import Settings

    settings = Settings()
    conn = store.connect(db or settings.db, storage_options or settings.db_storage_options)
    table_name, ver = resolve(conn, name, version, table)
    tbl = store.open_table(conn, table_name)
    tbl.checkout(ver)
    run = next((r for r in reversed(ledger.runs(conn, name)) if r["table_name"] == table_name), None)
    if run is None:
        raise IndexNotFoundError(f"no run recorded for table {table_name}")
    qi = _query_instruction(run)
    return Index(name, table_name, ver, run["model"], int(run["dims"]), tbl, qi)


def _query_instruction(run: dict[str, Any]) -> str | None:
    import json

    try:
        return json.loads(run.get("config") or "{}")["settings"].get("query_instruction")
    except (ValueError, KeyError):
        return None
