"""The analysts' view: open the production index and search it.

>>> import mmindex
>>> idx = mmindex.open_index("items")            # production version, read-only
>>> idx.search("광합성 과정", k=5, mode="hybrid")   # embeds the query with the index's own model
>>> idx.search("a penguin", k=5, rerank=True)     # two-stage: top rerank_top, reranked, top 5

- :mod:`~mmindex.search.reader`: :class:`Index`, :func:`open_index`, the first-stage modes.
- :mod:`~mmindex.search.stages`: the post-steps: Qwen3-VL-Reranker, visual diversification.
- :mod:`~mmindex.search.diversify`: k-means over the top results, cluster interleaving,
  intra-list diversity.
- :mod:`~mmindex.search.rrf`: reciprocal rank fusion of stored rankings.
- :mod:`~mmindex.search.versions`: which table and version a reader opens.
- :mod:`~mmindex.search.gallery`: results as picture cards in a notebook (``mmindex.gallery``).
- :mod:`~mmindex.search.lancefn`: the index's model as a LanceDB embedding function.
"""

from __future__ import annotations

from mmindex.search.diversify import interleave, kmeans, pairwise_diversity
from mmindex.search.gallery import Gallery, gallery, thumbnail_uri
from mmindex.search.reader import (
    ANN_NPROBES,
    ANN_REFINE,
    MODES,
    PART_MODES,
    Index,
    Mode,
    open_index,
)
from mmindex.search.rrf import rrf
from mmindex.search.stages import Hit, parse_mode, post_ranked
from mmindex.search.versions import latest_candidate, resolve

__all__ = [
    "ANN_NPROBES",
    "ANN_REFINE",
    "Gallery",
    "Hit",
    "Index",
    "MODES",
    "Mode",
    "PART_MODES",
    "gallery",
    "interleave",
    "kmeans",
    "latest_candidate",
    "open_index",
    "pairwise_diversity",
    "parse_mode",
    "post_ranked",
    "resolve",
    "rrf",
    "thumbnail_uri",
]
