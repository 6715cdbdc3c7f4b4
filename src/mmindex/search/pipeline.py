"""One query, start to end: the first stage, its post-steps and the result rows, reading the
table once for the ranking and at most once more for the rows.

Before, a reranked and diversified search read the table four times (the ranking, the
reranker's documents, the vectors to cluster, the rows shown) and parsed the mode twice. Now
:meth:`Pipeline.plan` parses the mode once and lists every column the post-steps and the result
need; the first stage selects those columns with its ranking where it queries LanceDB itself
(``vector``, ``ann``, ``fts``, the part and ``vector:COLUMN`` modes: one read in all). Hybrid
(the fusion of :mod:`mmindex.index.fusion`) and multivector return ids and scores, so their rows
come in one ``id IN (...)`` read shared by every step (two reads in all).
``tests/test_search_pipeline.py`` counts the reads on a real LanceDB table.

``where`` is a LanceDB SQL filter applied *before* the ranking (a prefilter) in every mode: the
top ``k`` are the best ``k`` rows that match it, not the matches among the best ``k``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmindex.errors import ConfigError, ModelUnavailableError
from mmindex.search.modes import check_first_stage, parse_mode
from mmindex.search.stages import (
    DIVERSIFY_COLUMNS,
    RERANK_COLUMNS,
    Hit,
    diversify_hits,
    rerank_hits,
)

INTERNAL_COLUMNS = ("fts_text",)  # the analysed full-text tokens: an index detail, not data


def is_vector(field: Any) -> bool:
    """A vector column (``fixed_size_list``) or a multivector one (a list of them)."""
    import pyarrow as pa

    t = field.type
    return pa.types.is_fixed_size_list(t) or (
        pa.types.is_list(t) and pa.types.is_fixed_size_list(t.value_type))


def shown_columns(schema: Any) -> list[str]:
    """The columns a search result shows: every column but the vectors and internal ones."""
    return [f.name for f in schema if not is_vector(f) and f.name not in INTERNAL_COLUMNS]


@dataclass(frozen=True)
class Pipeline:
    """A planned query: first stage ``base`` to depth ``depth``, then the post-steps, top ``k``.

    Build it with :meth:`plan`; :meth:`run` it once per query (or many times: it holds no
    query state).
    """

    idx: Any
    base: str
    k: int
    depth: int
    rerank: str | None  # the reranker spec, or None
    rerank_top: int
    diversify: bool
    diversify_top: int
    clusters: int
    where: str | None
    columns: tuple[str, ...]  # what the post-steps and the result read (the table has them)
    shown: tuple[str, ...] = ()  # of those, what the result shows (no vectors)
    rerank_is_default: bool = False

    @classmethod
    def plan(cls, idx: Any, mode: str, *, k: int = 10, rerank: str | bool | None = None,
             rerank_top: int | None = None, diversify: bool = False,
             diversify_top: int | None = None, clusters: int | None = None,
             where: str | None = None, rows: bool = True) -> Pipeline:
        """The pipeline of ``mode`` (its ``+rerank`` / ``+diversify`` turn the steps on too;
        ``rerank`` is a reranker spec, or True for the index's ``rerank_model``); ``rows``: the
        result carries the hit rows' columns (else only what the steps need).

        Raises:
            ConfigError: an unknown mode or post-step, or a size below 1.
        """
        base, mode_rerank, mode_div = parse_mode(mode)
        check_first_stage(base)
        default = not isinstance(rerank, str) and bool(rerank or mode_rerank)
        spec = rerank if isinstance(rerank, str) else (idx.rerank_model if default else None)
        diversify = diversify or mode_div
        n_rerank = rerank_top or idx.rerank_top
        n_div = diversify_top or idx.diversify_top
        if min(n_rerank, n_div, k) < 1:
            raise ConfigError("k, rerank_top and diversify_top must be >= 1")
        schema = idx.table.schema
        shown = tuple(c for c in shown_columns(schema) if c != "id") if rows else ()
        steps = (list(RERANK_COLUMNS) if spec else []) + \
            (list(DIVERSIFY_COLUMNS) if diversify else [])
        columns = (*shown, *(c for c in dict.fromkeys(steps)
                             if c in schema.names and c not in shown))
        depth = max(k, n_rerank if spec else 0, n_div if diversify else 0)
        return cls(idx, base, k, depth, spec, n_rerank, diversify, n_div,
                   clusters or idx.diversify_clusters, where or None, columns, shown,
                   rerank_is_default=default)

    def query(self, text: str | None, image: str | Path | None = None,
              vector: np.ndarray | None = None
              ) -> tuple[list[Hit], dict[str, dict[str, Any]]]:
        """:meth:`run` for a text and/or image query, embedded with the index's model when the
        first stage needs a vector (and ``vector`` is not given)."""
        if vector is None and self.base == "multivector":
            vector = self.idx.embed_query_tokens(text, image)
        elif vector is None and self.base != "fts":
            vector = self.idx.embed_query(text, image)
        return self.run(text, vector, image)

    def run(self, text: str | None, vector: np.ndarray | None,
            image: str | Path | None = None) -> tuple[list[Hit], dict[str, dict[str, Any]]]:
        """The top ``k`` hits, and ``{id: row}`` of their :attr:`columns`.

        Raises:
            ConfigError: the ``where`` filter or the mode does not fit the table.
            ModelUnavailableError: the reranker's weights are not on this machine.
            ItemError: the query is empty or its image unreadable (reranking).
        """
        pairs, rows = self.idx.ranked_rows(text, vector, k=self.depth, mode=self.base,
                                           where=self.where, columns=self.columns)
        hits = [Hit(i, float(s), float(s)) for i, s in pairs]
        if self.columns and rows is None:  # hybrid, multivector: one read for every step
            from mmindex.search.stages import rows_of

            rows = rows_of(self.idx, [h.id for h in hits], self.columns)
        rows = rows or {}
        if self.rerank:
            head = rerank_hits(self._reranker(), text, image, hits[:self.rerank_top], rows)
            hits = head + hits[self.rerank_top:]
        if self.diversify:
            hits = diversify_hits(hits, rows, self.diversify_top, self.clusters)
        return hits[:self.k], rows

    def _reranker(self) -> Any:
        from mmindex.backends import load_reranker

        try:
            return load_reranker(self.rerank, device=self.idx.device,
                                 cache_dir=self.idx.cache_dir)
        except ModelUnavailableError as exc:
            if not self.rerank_is_default:
                raise
            raise ModelUnavailableError(
                f"--rerank without a MODEL uses the rerank_model setting, {self.rerank!r}, and "
                f"it is not on this machine: {exc.args[0].split(' Help:')[0]} Help: name one "
                "(`--rerank tiny-qwen3-vl-reranker` is the offline random-weight twin for smoke "
                "runs; `--rerank qwen3-vl-reranker:/path/to/dir` a copied checkpoint), or set "
                "rerank_model in mmindex.toml / MMINDEX_RERANK_MODEL.") from exc


def post_ranked(idx: Any, text: str | None, vector: np.ndarray | None, *, k: int = 10,
                mode: str = "vector", image: str | Path | None = None,
                rerank: str | bool | None = None, rerank_top: int | None = None,
                diversify: bool = False, diversify_top: int | None = None,
                clusters: int | None = None, where: str | None = None) -> list[Hit]:
    """The top ``k`` :class:`Hit` of ``mode`` with its post-steps (``rerank`` a reranker spec,
    or True for the index's ``rerank_model``; the mode's ``+rerank`` / ``+diversify`` turn them
    on too): :class:`Pipeline` without the result rows (evaluation).

    Raises:
        ConfigError: an unknown mode, post-step, or reranker spec.
        ModelUnavailableError: the reranker's weights are not on this machine.
        ItemError: the query is empty or its image unreadable (reranking).
    """
    pipe = Pipeline.plan(idx, mode, k=k, rerank=rerank, rerank_top=rerank_top,
                         diversify=diversify, diversify_top=diversify_top, clusters=clusters,
                         where=where, rows=False)
    return pipe.run(text, vector, image)[0]
