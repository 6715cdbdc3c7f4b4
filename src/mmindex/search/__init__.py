"""The analysts' view: open the production index and search it.

>>> import mmindex
>>> idx = mmindex.open_index("items")            # production version, read-only
>>> idx.search("광합성 과정", k=5)                  # the gate's mode (hybrid), the index's model
>>> idx.search("a penguin", k=5, where="id LIKE 'animals/%'")  # SQL prefilter, every mode
>>> idx.search("a penguin", k=5, rerank=True)     # two-stage: top rerank_top, reranked, top 5

- :mod:`~mmindex.search.modes`: the one list of modes and post-steps.
- :mod:`~mmindex.search.reader`: :class:`Index`, :func:`open_index`, the first-stage modes.
- :mod:`~mmindex.search.pipeline`: one query: first stage, post-steps, rows (one read).
- :mod:`~mmindex.search.stages`: the post-steps: Qwen3-VL-Reranker, visual diversification.
- :mod:`~mmindex.search.prefilter`: ``where=``, a SQL prefilter in every mode.
- :mod:`~mmindex.search.results`: results as a DataFrame and as JSON rows.
- :mod:`~mmindex.search.diversify`: k-means over the top results, cluster interleaving,
  intra-list diversity.
- :mod:`~mmindex.search.versions`: which table and version a reader opens.
- :mod:`~mmindex.search.gallery`: results as picture cards in a notebook (``mmindex.gallery``).
- :mod:`~mmindex.search.lancefn`: the index's model as a LanceDB embedding function.
"""

from __future__ import annotations

from mmindex.search.diversify import interleave, kmeans, pairwise_diversity
from mmindex.search.gallery import Gallery, gallery, thumbnail_uri
from mmindex.search.modes import MODE_CHOICES, MODES, PART_MODES, POST_STEPS, Mode, parse_mode
from mmindex.search.pipeline import Pipeline, post_ranked
from mmindex.search.reader import ANN_NPROBES, ANN_REFINE, Index, open_index
from mmindex.search.stages import Hit
from mmindex.search.versions import latest_candidate, resolve

__all__ = [
    "ANN_NPROBES",
    "ANN_REFINE",
    "Gallery",
    "Hit",
    "Index",
    "MODES",
    "MODE_CHOICES",
    "Mode",
    "PART_MODES",
    "POST_STEPS",
    "Pipeline",
    "gallery",
    "interleave",
    "kmeans",
    "latest_candidate",
    "open_index",
    "pairwise_diversity",
    "parse_mode",
    "post_ranked",
    "resolve",
    "thumbnail_uri",
]
