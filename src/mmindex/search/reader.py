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
from typing import Any

import numpy as np

from mmindex import index as ix
from mmindex.errors import ConfigError, IndexNotFoundError
from mmindex.index import ledger
from mmindex.search.modes import PART_MODES, Mode, check_first_stage, default_mode
from mmindex.search.prefilter import Prefiltered, where_errors
from mmindex.search.querycheck import check_query
from mmindex.search.versions import resolve

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
    default_mode: str = "hybrid"  # search's mode when none is given: the gate's (settings)
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
                (the manifest's extra columns) instead of a JSON string (and the struct
                ``meta``, the same fields typed, is left out).
        """
        import json

        import polars as pl

        df = self.table.to_polars()
        df = df.collect() if hasattr(df, "collect") else df
        if expand_metadata and df.height:
            meta = pl.DataFrame([json.loads(m or "{}") for m in df["metadata"]],
                                infer_schema_length=None)
            df = df.drop("metadata", "meta", strict=False)  # meta: the same fields, typed
            df = pl.concat([df, meta], how="horizontal") if meta.width else df
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
        if image:
            self._check_modality()
        return self.embed_queries([(text, image)])[0]

    def _check_modality(self) -> None:
        """An image query needs a model that embeds images; say so before embedding."""
        modalities = getattr(self.embedder(), "modalities", frozenset({"image"}))
        if "image" not in modalities:
            raise ConfigError(
                f"index {self.name!r} was embedded by {self.model}, which embeds "
                f"{' and '.join(sorted(modalities))} only: it cannot embed an image query. "
                "Help: search it with text (or --mode fts), or search an index embedded by a "
                "multimodal model (e.g. --model qwen3-vl-embedding-2b, clip-vit-b-32); "
                "`mmindex models` lists what each model embeds.")

    def embed_queries(self, queries: list[tuple[str | None, str | Path | None]],
                      batch: int = 32) -> np.ndarray:
        """Vectors for ``(text, image)`` queries, in order, ``batch`` at a time."""
        from mmindex.backends import embed_queries

        return embed_queries(self.embedder(), queries, self.dims, batch)

    def embed_query_tokens(self, text: str | None = None, image: str | Path | None = None):
        """The query's token vectors ``(tokens, d)`` (a multi-vector model's indexes only)."""
        from mmindex.backends.base import embed_items_multi
        from mmindex.index.multivector import require
        from mmindex.items import Item

        require(self.table)  # before loading a model that cannot make token vectors
        item = Item(id="q", text=text or "", images=(str(image),) if image else ())
        return embed_items_multi(self.embedder(), [item], role="query")[0]

    def ranked(self, text: str | None, vector: np.ndarray | None, *, k: int = 10,
               mode: Mode | str = "vector", where: str | None = None) -> list[tuple[str, float]]:
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
        column of the table (e.g. ``vector_image``), with the same query vector. ``where``: a
        LanceDB SQL prefilter (only matching rows are ranked).
        """
        return self.ranked_rows(text, vector, k=k, mode=mode, where=where)[0]

    def ranked_rows(self, text: str | None, vector: np.ndarray | None, *, k: int = 10,
                    mode: Mode | str = "vector", where: str | None = None,
                    columns: tuple[str, ...] = ()
                    ) -> tuple[list[tuple[str, float]], dict[str, dict[str, Any]] | None]:
        """:meth:`ranked`, and ``{id: row}`` of ``columns`` where the mode's own query could
        select them (None for hybrid and multivector: the caller reads the rows)."""
        from mmindex.index import fulltext, fusion, multivector

        check_query(text, k=k, settings=self.settings, need_content=False)

        column = PART_MODES.get(mode, "vector")
        if mode.startswith("vector:"):
            mode, column = "vector", mode.split(":", 1)[1]
            if column not in self.table.schema.names:
                raise ConfigError(f"mode vector:{column}: the table has no column {column!r}")
        check_first_stage(mode)
        tbl = Prefiltered(self.table, where) if where else self.table
        with where_errors(where, self.table):
            if mode == "multivector":
                if np.ndim(vector) != 2:  # a pooled vector, or none: the text's token vectors
                    vector = self.embed_query_tokens(text) if text else None
                return [] if vector is None else multivector.search(
                    tbl, vector, k=k, first_stage=self.first_stage), None
            if mode in ("fts", "hybrid"):
                if self._fts is None:
                    self._fts = fulltext.FtsSearch.of(self.table)
                query = self._fts.query(text)
                if mode == "hybrid" and vector is not None and query is not None:
                    return fusion.hybrid(tbl, query, vector, k=k,
                                         fusion=fusion.spec_for(self.fusion, text)), None
                if mode == "fts" or vector is None:
                    if query is None:
                        return [], {}
                    res = (tbl.search(query, query_type="fts")
                           .select(["id", "_score", *columns]).limit(k).to_arrow())
                    return _scored(res, res["_score"].to_pylist(), columns)
            if vector is None:
                return [], {}
            if column not in self.table.schema.names:
                raise ConfigError(f"mode {mode}: {self.table_name} has no {column} column. Help: "
                                  "re-embed with part_vectors=on (auto does for CLIP/SigLIP).")
            q = tbl.search(np.asarray(vector, np.float32), vector_column_name=column)
            q = q.distance_type("cosine").select(["id", "_distance", *columns]).limit(k)
            if mode != "ann":  # vector, or hybrid without text
                q = q.bypass_vector_index()
            else:  # ann: PQ distances are coarse; re-rank 10x candidates exactly (bench:
                q = q.nprobes(ANN_NPROBES).refine_factor(ANN_REFINE)  # recall@10 0.58 -> 0.95)
            res = q.to_arrow()
            return _scored(res, [1.0 - d for d in res["_distance"].to_pylist()], columns)

    def search(self, text: str | None = None, *, image: str | Path | None = None, k: int = 10,
               mode: str | None = None, vector: np.ndarray | None = None,
               rerank: str | bool | None = None, rerank_top: int | None = None,
               diversify: bool = False, diversify_top: int | None = None,
               where: str | None = None):
        """Top-``k`` rows as a polars DataFrame: ``id``, ``score`` (higher is better), then every
        column of the hit rows but the vectors (text, media, metadata, ...).

        The query is embedded with this index's model and query instruction (text, image or
        both); ``mode`` defaults to :attr:`default_mode` (the gate's mode, hybrid unless the
        settings say otherwise); see :meth:`ranked` for the modes. ``where`` is a LanceDB SQL
        filter (e.g. ``"id LIKE 'animals/%'"``) applied before the ranking in every mode, so the
        top ``k`` all match it. ``rerank`` (a reranker spec, or True for :attr:`rerank_model`)
        rescores the first stage's top ``rerank_top`` with Qwen3-VL-Reranker; ``diversify``
        interleaves k-means clusters of the top ``diversify_top`` (:mod:`mmindex.search.stages`).
        With either, the frame also has ``_first_score`` (the first stage's), ``_rerank_score``
        / ``_rerank_error`` (reranked) and ``_cluster`` (diversified). The table is read once
        for the ranking and at most once more for the rows (:mod:`mmindex.search.pipeline`).
        """
        from mmindex.search.pipeline import Pipeline
        from mmindex.search.results import hits_frame

        check_query(text, image, k=k, rerank_top=rerank_top, settings=self.settings,
                    need_content=vector is None)
        pipe = Pipeline.plan(self, mode or self.default_mode, k=k, rerank=rerank,
                             rerank_top=rerank_top, diversify=diversify,
                             diversify_top=diversify_top, where=where)
        hits, rows = pipe.query(text, image, vector)
        return hits_frame(hits, rows, pipe.shown, self.table.schema,
                          staged=bool(pipe.rerank or pipe.diversify))


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
    try:
        conn = ix.connect(settings, create=False)  # a read never creates a database
    except IndexNotFoundError as exc:
        raise IndexNotFoundError(f"no index named {name!r}: {exc}") from None
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
                 default_mode=default_mode(settings),
                 settings=settings, first_stage=settings.multivector_first_stage,
                 rerank_model=settings.rerank_model, rerank_top=settings.rerank_top,
                 diversify_top=settings.diversify_top,
                 diversify_clusters=settings.diversify_clusters)


def _scored(res: Any, scores: list[float], columns: tuple[str, ...]
            ) -> tuple[list[tuple[str, float]], dict[str, dict[str, Any]]]:
    """A first stage's ``(id, score)`` pairs and ``{id: row}`` of ``columns`` from one result."""
    ids = res["id"].to_pylist()
    rows = {r["id"]: r for r in res.select(["id", *columns]).to_pylist()} if columns else {}
    return list(zip(ids, scores, strict=True)), rows


def _query_instruction(run: dict[str, Any]) -> str | None:
    import json

    try:
        return json.loads(run.get("config") or "{}")["settings"].get("query_instruction")
    except (ValueError, KeyError):
        return None
