"""The analysts' view: open the production index and search it.

>>> import mmindex
>>> idx = mmindex.open_index("items")            # production version, read-only
>>> idx.to_polars().head()                        # the rows, as a polars DataFrame
>>> idx.search("광합성 과정", k=5, mode="hybrid")   # embeds the query with the index's own model

Hybrid search is LanceDB's hybrid query (exact vector + full text) with its rerankers: the
fusion the evaluation chose for this version on the golden set (``RRFReranker(K=60)``,
``LinearCombinationReranker(weight=W)`` or one side first; see :mod:`mmindex.index.fusion`), RRF
when none was chosen. Full text searches ``text`` and the Korean-analysed ``fts_text`` together
(:mod:`mmindex.index.fulltext`). Reranking and diversification: :mod:`mmindex.search.stages`.

The raw-LanceDB way (no mmindex): ``db.open_table(t).checkout("production")`` where ``t`` is
the index's table (``mmindex versions --index items`` prints it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mmindex import index as ix
from mmindex.errors import ConfigError, IndexNotFoundError
from mmindex.index import ledger
from mmindex.search.versions import resolve

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
    fusion: Any = "rrf"  # FusionPolicy (or one spec): hybrid's fusion per query (index.fusion)
    settings: Any = field(default=None, repr=False)  # API keys, trusted dirs (load_embedder)
    first_stage: int = 0  # multivector: re-score the pooled top N (0: MaxSim over every row)
    rerank_model: str = "qwen3-vl-reranker-2b"  # settings' defaults of the post-steps (stages)
    rerank_top: int = 50
    diversify_top: int = 50
    diversify_clusters: int = 5
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
               mode: Mode | str = "vector") -> list[tuple[str, float]]:
        """``[(id, score)]`` best first: the ranking that search and evaluation share.

        Modes: ``vector`` exact cosine (score = cosine similarity); ``ann`` the vector index
        (exact below the size where one is built); ``fts`` BM25 over ``text`` and the
        Korean-analysed ``fts_text`` (summed); ``hybrid`` LanceDB's hybrid query with this
        version's :attr:`fusion` over the top ``max(k, 100)`` of each side (a query with no text
        or no vector falls back to the side it has); ``multivector`` MaxSim (``vector``: the
        query's token vectors, else ``text``'s; :mod:`mmindex.index.multivector`);
        ``text-vector`` / ``image-vector`` / ``fused-vector`` exact cosine over the items' text,
        image or fused vectors (rows without that part are skipped; a text query on
        ``image-vector`` is text -> image); ``vector:COLUMN`` exact cosine on another vector
        column of the table (e.g. ``vector_image``), with the same query vector.
        """
        from mmindex.index import fulltext, fusion, multivector

        column = PART_MODES.get(mode, "vector")
        if mode.startswith("vector:"):
            mode, column = "vector", mode.split(":", 1)[1]
            if column not in self.table.schema.names:
                raise ConfigError(f"mode vector:{column}: the table has no column {column!r}")
        if mode not in MODES:
            raise ConfigError(f"mode {mode!r}: use one of {', '.join(MODES)}, vector:COLUMN, "
                              "with +rerank / +diversify")
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
                return fusion.hybrid(self.table, query, vector, k=k,
                                     fusion=fusion.spec_for(self.fusion, text))
            if mode == "fts" or vector is None:
                if query is None:
                    return []
                res = (self.table.search(query, query_type="fts").select(["id", "_score"])
                       .limit(k).to_arrow())
                return list(zip(res["id"].to_pylist(), res["_score"].to_pylist(), strict=True))
        if vector is None:
            return []
        if column not in self.table.schema.names:
            raise ConfigError(f"mode {mode}: {self.table_name} has no {column} column. Help: "
                              "re-embed with part_vectors=on (auto does for CLIP/SigLIP).")
        q = self.table.search(np.asarray(vector, np.float32), vector_column_name=column)
        q = q.distance_type("cosine").select(["id", "_distance"]).limit(k)
        if mode != "ann":  # vector, or hybrid without text
            q = q.bypass_vector_index()
        else:  # ann: PQ distances are coarse; re-rank 10x candidates exactly (bench: recall@10
            q = q.nprobes(ANN_NPROBES).refine_factor(ANN_REFINE)  # 0.58 -> 0.95 at 200k x 1024)
        res = q.to_arrow()
        return [(i, 1.0 - d) for i, d in zip(res["id"].to_pylist(), res["_distance"].to_pylist(),
                                             strict=True)]

    def search(self, text: str | None = None, *, image: str | Path | None = None, k: int = 10,
               mode: str = "vector", vector: np.ndarray | None = None,
               rerank: str | bool | None = None, rerank_top: int | None = None,
               diversify: bool = False, diversify_top: int | None = None):
        """Top-``k`` rows as a polars DataFrame with a ``score`` column (higher is better).

        The query is embedded with this index's model and query instruction (text, image or
        both); see :meth:`ranked` for the modes. ``rerank`` (a reranker spec, or True for
        :attr:`rerank_model`) rescores the first stage's top ``rerank_top`` with
        Qwen3-VL-Reranker; ``diversify`` interleaves k-means clusters of the top
        ``diversify_top`` (:mod:`mmindex.search.stages`). With either, the frame also has
        ``_first_score`` (the first stage's), ``_rerank_score`` / ``_rerank_error`` (reranked)
        and ``_cluster`` (diversified).
        """
        import polars as pl

        from mmindex.search.stages import parse_mode, post_ranked

        base, by_mode_rerank, by_mode_div = parse_mode(mode)
        if vector is None and base == "multivector":
            vector = self.embed_query_tokens(text, image)
        elif vector is None and base != "fts":
            vector = self.embed_query(text, image)
        hits = post_ranked(self, text, vector, k=k, mode=mode, image=image, rerank=rerank,
                           rerank_top=rerank_top, diversify=diversify,
                           diversify_top=diversify_top)
        staged = bool(rerank) or diversify or by_mode_rerank or by_mode_div
        cols: dict[str, Any] = {"id": [h.id for h in hits], "score": [h.score for h in hits]}
        schema: dict[str, Any] = {"id": pl.String, "score": pl.Float64}
        if staged:
            cols |= {"_first_score": [h.first_score for h in hits],
                     "_rerank_score": [h.rerank_score for h in hits],
                     "_rerank_error": [h.rerank_error for h in hits],
                     "_cluster": [h.cluster for h in hits]}
            schema |= {"_first_score": pl.Float64, "_rerank_score": pl.Float64,
                       "_rerank_error": pl.String, "_cluster": pl.Int64}
        order = pl.DataFrame(cols, schema=schema).with_row_index("rank")
        if not hits:
            return order.drop("rank")
        shown = ["id", "text", "images", "video", "metadata"]
        shown += [c for c in (ix.OCR_TEXT,) if c in self.table.schema.names]  # setting ocr
        rows = pl.from_arrow(self.table.search().where(ix.id_filter(order["id"].to_list()))
                             .select(shown).limit(len(hits)).to_arrow())
        return order.join(rows, on="id", how="left").sort("rank").drop("rank")


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
                 settings=settings, first_stage=settings.multivector_first_stage,
                 rerank_model=settings.rerank_model, rerank_top=settings.rerank_top,
                 diversify_top=settings.diversify_top,
                 diversify_clusters=settings.diversify_clusters)


def _query_instruction(run: dict[str, Any]) -> str | None:
    import json

    try:
        return json.loads(run.get("config") or "{}")["settings"].get("query_instruction")
    except (ValueError, KeyError):
        return None
