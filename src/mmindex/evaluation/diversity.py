"""Diversity of what each golden query's search shows: intra-list diversity of the top k.

``ild@k`` is the mean pairwise cosine distance of a query's top ``k`` results (their
``vector_image`` where the table has one, else their item vectors); ``ils@k`` the mean pairwise
cosine similarity (intra-list similarity, ``1 - ild``). Averaged over the queries that returned
at least two results. Relevance (nDCG) and diversity side by side say what diversification costs
and buys.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmindex.search import pairwise_diversity
from mmindex.search.stages import diversity_vectors


def run_diversity(idx: Any, run: dict[str, list], k: int = 10) -> dict[str, float]:
    """``{"ild@k", "ils@k"}`` means over the queries of ``run`` (query id -> ``[(id, score)]``)."""
    values = [pairwise_diversity(diversity_vectors(idx, [d for d, _ in hits[:k]]))
              for hits in run.values() if len(hits) >= 2]
    if not values:
        return {}
    return {f"ild@{k}": float(np.mean([v["ild"] for v in values])),
            f"ils@{k}": float(np.mean([v["ils"] for v in values]))}
