"""The golden queries' rankings in one search mode, as search serves them (evaluation's runs).

:func:`golden_run` ranks every golden query the way ``mmindex search`` does (the first stage, its
post-steps); ``fusions`` gives chosen queries the hybrid fusion policy their first stage uses
instead of the index's own: evaluation passes each query the policy fit without its fold, so a
reranked or diversified hybrid is scored on the same held-out first stage as ``hybrid``
(:mod:`mmindex.evaluation.fusion_sweep`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mmindex.evaluation.golden import GoldenSet
from mmindex.search import Index

DEPTH = 100  # results per query: enough for recall@100


def golden_run(idx: Index, golden: GoldenSet, mode: str, vectors: Any,
               tick: Callable[[], None] | None = None,
               fusions: Mapping[str, Any] | None = None) -> dict[str, list]:
    """The ranking of every golden query in ``mode`` (top :data:`DEPTH`), query id -> hits;
    ``vectors`` are the queries' vectors (None where the model cannot embed one); ``tick`` is
    called after each query (a progress bar); ``fusions``: query id -> the hybrid fusion
    (a :class:`~mmindex.index.fusion.FusionPolicy` or spec) that query is ranked with, in place
    of ``idx.fusion`` (which is left as it was)."""
    from mmindex.search import parse_mode, post_ranked

    base, rerank, diversify = parse_mode(mode)
    run: dict[str, list] = {}
    own = idx.fusion
    try:
        for q, vec in zip(golden.queries, vectors, strict=True):
            idx.fusion = (fusions or {}).get(q.id, own)
            if base == "multivector" and vec is not None:  # late interaction: query's tokens
                vec = idx.embed_query_tokens(q.text, q.image)
            if base == "fts" and not q.text:
                pass
            elif rerank or diversify:  # the same post-steps as `mmindex search`
                hits = post_ranked(idx, q.text, vec, k=DEPTH, mode=mode, image=q.image)
                # metrics rank by score (trec_eval): score by position, as the list is shown
                run[q.id] = [(h.id, float(len(hits) - i)) for i, h in enumerate(hits)]
            else:
                run[q.id] = idx.ranked(q.text, vec, k=DEPTH, mode=mode)
            if tick:
                tick()
    finally:
        idx.fusion = own
    return run


def query_vectors(idx: Index, golden: GoldenSet) -> list[Any]:
    """One vector per golden query, None where the index's model cannot embed it (an image
    query on a text-only model: it then finds nothing and scores 0)."""
    modalities = idx.embedder().modalities
    ok = [i for i, q in enumerate(golden.queries)
          if q.text or (q.image and "image" in modalities)]
    vectors: list[Any] = [None] * len(golden.queries)
    embedded = idx.embed_queries([(golden.queries[i].text, golden.queries[i].image) for i in ok])
    for i, v in zip(ok, embedded, strict=True):
        vectors[i] = v
    return vectors
