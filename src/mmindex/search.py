"""The analysts' view: open the production index and search it.

>>> import mmindex
>>> idx = mmindex.open_index("items")            # production version, read-only
>>> idx.to_polars().head()                        # the rows, as a polars DataFrame
>>> idx.search("광합성 과정", k=5, mode="hybrid")   # embeds the query with the index's own model

Hybrid search is LanceDB's hybrid query (exact vector + full text) with its rerankers: the
fusion the evaluation chose for this version on the golden set (``RRFReranker(K=60)``,
``LinearCombinationReranker(weight=W)`` or one side first; see :mod:`mmindex.index.fusion`), RRF
when none was chosen. Full text searches ``text`` and the Korean-analysed ``fts_text`` together
(:mod:`mmindex.index.fulltext`). :func:`rrf` fuses stored rankings without the index.

The raw-LanceDB way (no mmindex): ``db.open_table(t).checkout("production")`` where ``t`` is
the index's table (``mmindex versions --index items`` prints it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mmindex import index as ix
from mmindex.errors import ConfigError, IndexNotFoundError
from mmindex.index import ledger

Mode = Literal["vector", "ann", "fts", "hybrid", "multivector", "text-vector", "image-vector",
               "fused-vector"]
#: exact cosine over one of the part vector columns (tables embedded with part_vectors)
PART_MODES = {"text-vector": "vector_text", "image-vector": "vector_image",
              "fused-vector": "vector_fused"}
MODES = ("vector", "ann", "fts", "hybrid", "multivector", *PART_MODES)
ANN_NPROBES, ANN_REFINE = 20, 10


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
    cache_dir: Path | None = None
    device: str = "auto"
    fusion: str = "rrf"  # hybrid's reranker, chosen per version by the evaluation (index.fusion)
    settings: Any = field(default=None, repr=False)  # API keys, trusted dirs (load_embedder)
    first_stage: int = 0  # multivector: re-score the pooled top N (0: MaxSim over every row)
    _fts: Any = field(default=None, init=False, repr=False, compare=False)

    def to_polars(self, expand_metadata: bool = False):
        """All rows as a polars DataFrame.

        Args:
            expand_metadata: turn the ``metadata`` JSON column into one column per key
                (the manifest's extra columns) instead of a JSON string.
        """
        import json

        import polars as pl

        df = self.table.to_polars()
        df = df.collect() if hasattr(df, "collect") else df
        if expand_metadata and df.height:
            meta = pl.DataFrame([json.loads(m or "{}") for m in df["metadata"]],
                                infer_schema_length=None)
            df = pl.concat([df.drop("metadata"), meta], how="horizontal") if meta.width else \
                df.drop("metadata")
        return df

    def to_arrow(self):
        return self.table.to_arrow()

    def embedder(self):
        from mmindex.backends import load_embedder

        return load_embedder(self.model, device=self.device, cache_dir=self.cache_dir,
                             query_instruction=self.query_instruction, settings=self.settings)

    def embed_query(self, text: str | None = None, image: str | Path | None = None) -> np.ndarray:
        """The query vector, embedded with this index's model and its query instruction."""
        if not text and not image:
            raise ConfigError("a search needs text, an image, or both")
        return self.embed_queries([(text, image)])[0]

    def embed_queries(self, queries: list[tuple[str | None, str | Path | None]],
                      batch: int = 32) -> np.ndarray:
        """Vectors for ``(text, image)`` queries, in order, ``batch`` at a time."""
        from mmindex.backends import embed_items
        from mmindex.items import Item

        emb = self.embedder()
        items = [Item(id=f"q{i}", text=t or "", images=(str(im),) if im else ())
                 for i, (t, im) in enumerate(queries)]
        parts = [embed_items(emb, items[i:i + batch], role="query", dims=self.dims)
                 for i in range(0, len(items), batch)]
        return np.concatenate(parts) if parts else np.zeros((0, self.dims), np.float32)

    def embed_query_tokens(self, text: str | None = None, image: str | Path | None = None):
        """The query's token vectors ``(tokens, d)`` (a multi-vector model's indexes only)."""
        from mmindex.backends.base import embed_items_multi
        from mmindex.index.multivector import require
        from mmindex.items import Item

        require(self.table)  # before loading a model that cannot make token vectors
        item = Item(id="q", text=text or "", images=(str(image),) if image else ())
        return embed_items_multi(self.embedder(), [item], role="query")[0]

    def ranked(self, text: str | None, vector: np.ndarray | None, *, k: int = 10,
               mode: Mode = "vector") -> list[tuple[str, float]]:
        """``[(id, score)]`` best first: the ranking that search and evaluation share.

        Modes: ``vector`` exact cosine (score = cosine similarity); ``ann`` the vector index
        (exact below the size where one is built); ``fts`` BM25 over ``text`` and the
        Korean-analysed ``fts_text`` (summed); ``hybrid`` LanceDB's hybrid query with this
        version's :attr:`fusion` over the top ``max(k, 100)`` of each side (a query with no text
        or no vector falls back to the side it has); ``multivector`` MaxSim (``vector``: the
        query's token vectors, else ``text``'s; :mod:`mmindex.index.multivector`);
        ``text-vector`` / ``image-vector`` / ``fused-vector`` exact cosine over the items' text,
        image or fused vectors (rows without that part are skipped; a text query on
        ``image-vector`` is text -> image).
        """
        from mmindex.index import fulltext, fusion, multivector

        if mode not in MODES:
            raise ConfigError(f"mode {mode!r}: use one of {', '.join(MODES)}")
        if mode == "multivector":
            if np.ndim(vector) != 2:  # a pooled vector, or none: the text's token vectors
                vector = self.embed_query_tokens(text) if text else None
            return [] if vector is None else multivector.search(
                self.table, vector, k=k, first_stage=self.first_stage)
        if mode in ("fts", "hybrid"):
            if self._fts is None:
                self._fts = fulltext.FtsSearch.of(self.table)
            query = self._fts.query(text)
            if mode == "hybrid" and vector is not None and query is not None:
                return fusion.hybrid(self.table, query, vector, k=k, fusion=self.fusion)
            if mode == "fts" or vector is None:
                if query is None:
                    return []
                res = (self.table.search(query, query_type="fts").select(["id", "_score"])
                       .limit(k).to_arrow())
                return list(zip(res["id"].to_pylist(), res["_score"].to_pylist(), strict=True))
        if vector is None:
            return []
        column = PART_MODES.get(mode, "vector")
        if column not in self.table.schema.names:
            raise ConfigError(f"mode {mode}: {self.table_name} has no {column} column. Help: "
                              "re-embed with part_vectors=on (auto does for CLIP/SigLIP).")
        q = self.table.search(np.asarray(vector, np.float32), vector_column_name=column)
        q = q.distance_type("cosine")
        q = q.select(["id", "_distance"]).limit(k)
        if mode != "ann":  # vector, or hybrid without text
            q = q.bypass_vector_index()
        else:  # ann: PQ distances are coarse; re-rank 10x candidates exactly (bench: recall@10
            q = q.nprobes(ANN_NPROBES).refine_factor(ANN_REFINE)  # 0.58 -> 0.95 at 200k x 1024)
        res = q.to_arrow()
        return [(i, 1.0 - d) for i, d in zip(res["id"].to_pylist(), res["_distance"].to_pylist(),
                                             strict=True)]

    def search(self, text: str | None = None, *, image: str | Path | None = None, k: int = 10,
               mode: Mode = "vector", vector: np.ndarray | None = None):
        """Top-``k`` rows as a polars DataFrame with a ``score`` column (higher is better).

        The query is embedded with this index's model and query instruction (text, image or
        both); see :meth:`ranked` for the modes.
        """
        import polars as pl

        if vector is None and mode == "multivector":
            vector = self.embed_query_tokens(text, image)
        elif vector is None and mode != "fts":
            vector = self.embed_query(text, image)
        hits = self.ranked(text, vector, k=k, mode=mode)
        if not hits:
            return pl.DataFrame({"id": [], "score": []},
                                schema={"id": pl.String, "score": pl.Float64})
        ids = [h[0] for h in hits]
        cols = ["id", "text", "images", "video", "metadata"]
        cols += [c for c in (ix.OCR_TEXT,) if c in self.table.schema.names]  # setting ocr
        rows = pl.from_arrow(self.table.search().where(ix.id_filter(ids))
                             .select(cols)
                             .limit(len(ids)).to_arrow())
        order = pl.DataFrame({"id": ids, "score": [float(h[1]) for h in hits],
                              "rank": list(range(1, len(ids) + 1))})
        return order.join(rows, on="id", how="left").sort("rank").drop("rank")


def rrf(
    rankings: Sequence[Sequence[tuple[str, float]]],
    k: int = 60,
    limit: int | None = None,
) -> list[tuple[str, float]]:
    """Fuse rankings with reciprocal rank fusion.

    Args:
        rankings: each a list of ``(doc_id, score)`` in rank order, best first, as a search
            returns it. Scores are ignored -- only positions count. A doc repeated within one
            ranking counts once, at its best position.
        k: the RRF constant; larger values flatten the advantage of top ranks (60 in the paper).
        limit: keep only the best ``limit`` fused results (None = all).

    Returns:
        ``[(doc_id, fused_score), ...]`` best first. Equal fused scores are ordered by doc id
        descending -- trec_eval's tie order -- so
        :func:`mmindex.evaluation.metrics.evaluate_run` ranks the list exactly as returned.

    Raises:
        ValueError: ``k`` is not positive or ``limit`` is negative.
    """
    if k <= 0:
        raise ValueError(f"RRF constant k must be > 0, got {k}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    fused: dict[str, float] = {}
    for ranking in rankings:
        seen: set[str] = set()
        for rank, (doc, _score) in enumerate(ranking, 1):
            if doc in seen:
                continue
            seen.add(doc)
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + rank)
    ordered = sorted(fused.items(), key=lambda pair: pair[0], reverse=True)
    ordered.sort(key=lambda pair: pair[1], reverse=True)  # stable: ties keep doc id descending
    return ordered if limit is None else ordered[:limit]


def resolve(db: Any, name: str, version: int | None = None,
            table: str | None = None) -> tuple[str, int]:
    """(table, version) for a reader: production unless a version is asked for.

    Raises:
        IndexNotFoundError: no index of that name, no production version yet (the message names
            the candidate to evaluate), or no table holding ``version``.
    """
    prod = ledger.production(db, name)
    runs = ledger.runs(db, name)
    if prod is None and not runs:
        raise IndexNotFoundError(ledger.no_such_index(db, name))
    if version is None:
        if prod is None:
            latest = latest_candidate(db, name)
            raise IndexNotFoundError(
                f"index {name!r} has no production version yet"
                + (f" (its latest candidate is v{latest[1]})" if latest else "")
                + ". Help: `mmindex evaluate --index NAME --promote` gates the candidate "
                "(or `mmindex promote`); `--version N` reads a candidate as it is.")
        return prod["table_name"], int(prod["version"])
    if table is None:
        same = [r for r in runs if r.get("version") == version]
        table = same[-1]["table_name"] if same else (prod or {}).get("table_name")
    if table is None:
        raise IndexNotFoundError(f"index {name!r}: no table holds version {version}. Help: "
                                 "`mmindex versions --index NAME` lists them.")
    return table, int(version)


def latest_candidate(db: Any, name: str) -> tuple[str, int] | None:
    """(table, version) of the newest committed run of ``name``, whatever its decision."""
    done = [r for r in ledger.runs(db, name)
            if r.get("status") == "committed" and r.get("version") is not None]
    return (done[-1]["table_name"], int(done[-1]["version"])) if done else None


def open_index(name: str, db: str | None = None, *, version: int | None = None,
               table: str | None = None, storage_options: dict[str, str] | None = None,
               settings: Any = None) -> Index:
    """Open ``name``'s production version (or ``version``) read-only.

    Args:
        name: index name, as given to ``mmindex embed --index``.
        db: LanceDB URI (default: the project's settings, e.g. ``.mmindex/db``).
        version: a specific table version (time travel), e.g. a rejected candidate.
        table: with ``version``, the table that holds it when it is ambiguous.
    """
    from mmindex.config import Settings

    settings = (settings or Settings()).with_overrides(db=db, db_storage_options=storage_options)
    conn = ix.connect(settings)
    table_name, ver = resolve(conn, name, version, table)
    tbl = ix.open_table(conn, table_name)
    try:
        tbl.checkout(ver)
    except (ValueError, OSError, RuntimeError) as exc:  # lance: "version N not found"
        raise IndexNotFoundError(
            f"{table_name} has no version {ver} (any more): {exc}. Help: `mmindex versions "
            f"--index {name}` lists the versions there are; cleanup keeps tagged ones only."
        ) from exc
    run = next((r for r in reversed(ledger.runs(conn, name)) if r["table_name"] == table_name),
               None)
    if run is None:
        raise IndexNotFoundError(f"no run recorded for table {table_name}")
    qi = _query_instruction(run)
    from mmindex.index import fusion

    return Index(name, table_name, ver, run["model"], int(run["dims"]), tbl, qi,
                 settings.cache_dir, settings.device,
                 fusion=fusion.fusion_of(conn, table_name, ver) or fusion.DEFAULT,
                 settings=settings, first_stage=settings.multivector_first_stage)


def _query_instruction(run: dict[str, Any]) -> str | None:
    import json

    try:
        return json.loads(run.get("config") or "{}")["settings"].get("query_instruction")
    except (ValueError, KeyError):
        return None
