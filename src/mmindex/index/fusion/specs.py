"""The fusions of a hybrid query, each named by a short spec, and LanceDB's hybrid query.

- ``rrf``: ``RRFReranker(K=60)``, reciprocal rank fusion (the POC's "Hybrid Top-5"; no scores).
- ``linear:W``: ``LinearCombinationReranker(weight=W)``: ``W * vector + (1 - W) * BM25``, each
  min-max normalised over its own top results by LanceDB (rows found by one side get 0 from the
  other). ``linear:1.0`` ranks as the vector search. ``linear:0.0`` does not rank as the
  full-text search: the normalisation gives a query's lowest BM25 hit 0 -- its only hit, when it
  has one -- the same as the rows full text did not find (sample golden set, Korean captions
  indexed, MiniLM: linear:0.0 nDCG@10 0.337, full text alone 0.567).
- ``vector-first`` / ``fts-first``: one side's ranking, then the other side's rows it lacks. The
  sweep holds both, so the fusion it chooses is never worse than the better side alone.
- ``dbsf:W``: distribution-based score fusion (as Qdrant's DBSF): each side's scores (cosine
  similarity; BM25) are scaled by their own mean +- 3 standard deviations over the query's top
  results, then ``W * vector + (1 - W) * fts`` (0 for a side that did not find the row; a side
  with one hit gives it 1). Computed here, not by LanceDB.

The evaluation fits a :class:`~mmindex.index.fusion.policy.FusionPolicy` over :data:`SWEEP`.
Both legs of a hybrid query go :data:`DEPTH` deep, whatever ``k``, so search and evaluation rank
alike (LanceDB otherwise cuts each leg at the final limit).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mmindex.errors import ConfigError

DEFAULT = "rrf"
SIDES = ("vector-first", "fts-first")
DBSF = tuple(f"dbsf:{w / 10:.1f}" for w in range(1, 10))
SWEEP = ("rrf", *(f"linear:{w / 10:.1f}" for w in range(11)), *SIDES)
DEPTH = 100
EVALUATIONS = "_evaluations"


def reranker(spec: str):
    """The LanceDB reranker for a fusion ``spec`` (``rrf`` or ``linear:W``, 0 <= W <= 1; None
    for a side-first or ``dbsf:W`` spec, fused here)."""
    from lancedb.rerankers import LinearCombinationReranker, RRFReranker

    if spec in SIDES:
        return None
    if spec == "rrf":
        return RRFReranker(K=60)
    kind, w = _weighted(spec)
    return None if kind == "dbsf" else LinearCombinationReranker(weight=w)


def _weighted(spec: str) -> tuple[str, float]:
    kind, _, weight = spec.partition(":")
    try:
        w = float(weight)
    except ValueError:
        w = -1.0
    if kind not in ("linear", "dbsf") or not 0.0 <= w <= 1.0:
        raise ConfigError(f"fusion {spec!r}: use rrf, vector-first, fts-first, linear:W or "
                          "dbsf:W with W in [0, 1] (the weight of the vector side). Help: e.g. "
                          "linear:0.7")
    return kind, w


def hybrid(tbl: Any, fts_query: Any, vector: Any, *, k: int,
           fusion: str = DEFAULT) -> list[tuple[str, float]]:
    """``[(id, score)]`` best first: LanceDB's hybrid query (exact vector + full text)."""
    import numpy as np

    if reranker(fusion) is None:
        return fuse(*legs(tbl, fts_query, vector, max(k, DEPTH)), fusion, k)
    # no select(): naming columns makes lance warn on every query that _score/_distance are
    # projected anyway, and the hybrid builder passes the same columns to both legs
    # the column named: a table with part vector columns has several (LanceDB then refuses)
    q = (tbl.search(query_type="hybrid", vector_column_name="vector")
         .vector(np.asarray(vector, np.float32)).text(fts_query)
         .distance_type("cosine").bypass_vector_index()
         .rerank(reranker(fusion), normalize="score").limit(max(k, DEPTH)))
    res = q.to_arrow()
    return _pairs(res)[:k]


def legs(tbl: Any, fts_query: Any, vector: Any, depth: int = DEPTH) -> tuple[pa.Table, pa.Table]:
    """The two legs of a hybrid query as LanceDB's builder fetches them (for :func:`fuse`)."""
    import numpy as np

    vec = (tbl.search(np.asarray(vector, np.float32), vector_column_name="vector")
           .distance_type("cosine")
           .bypass_vector_index().with_row_id(True).select(["id", "_distance"]).limit(depth)
           .to_arrow())
    fts = (tbl.search(fts_query, query_type="fts").with_row_id(True).select(["id", "_score"])
           .limit(depth).to_arrow())
    return vec, fts


def fuse(vector_leg: pa.Table, fts_leg: pa.Table, fusion: str,
         k: int = DEPTH) -> list[tuple[str, float]]:
    """Fuse stored legs with LanceDB's own hybrid code path (normalise, rerank, cut): what
    :func:`hybrid` returns for the same legs, without querying again (the evaluation sweep)."""
    from lancedb.query import LanceHybridQueryBuilder

    if fusion in SIDES:
        return _side_first(vector_leg, fts_leg, fusion == "vector-first")[:k]
    if fusion.startswith("dbsf:"):
        return _dbsf(vector_leg, fts_leg, _weighted(fusion)[1])[:k]
    res = LanceHybridQueryBuilder._combine_hybrid_results(
        fts_results=fts_leg, vector_results=vector_leg, norm="score", fts_query="",
        reranker=reranker(fusion), limit=max(k, DEPTH), with_row_ids=True)
    return _pairs(res)[:k]


def _side_first(vector_leg: pa.Table, fts_leg: pa.Table,
                vector_first: bool) -> list[tuple[str, float]]:
    """One leg's ranking, then the other's rows it lacks; scores fall with the rank. Each leg
    is ordered as evaluation orders a run (score, then id descending), so ``fts-first`` ranks
    exactly as full-text search alone is scored."""
    def order(leg: pa.Table, score: str, sign: float) -> list[str]:
        pairs = zip(leg[score].to_pylist(), leg["id"].to_pylist(), strict=True) if leg.num_rows \
            else []
        return [i for _, i in sorted(((sign * x, i) for x, i in pairs), reverse=True)]
    vec, fts = order(vector_leg, "_distance", -1.0), order(fts_leg, "_score", 1.0)
    ids = list(dict.fromkeys(vec + fts if vector_first else fts + vec))
    return [(i, 1.0 - r / len(ids)) for r, i in enumerate(ids)]


def _dbsf(vector_leg: pa.Table, fts_leg: pa.Table, w: float) -> list[tuple[str, float]]:
    """Distribution-based score fusion (module docstring); ties: id descending, as evaluation
    orders a run."""
    import numpy as np

    def scaled(leg: pa.Table, scores: np.ndarray) -> dict[str, float]:
        if not leg.num_rows:
            return {}
        lo, sd = scores.mean() - 3 * scores.std(), scores.std()
        norm = (scores - lo) / (6 * sd) if sd > 0 else np.ones_like(scores)
        return dict(zip(leg["id"].to_pylist(), norm.tolist(), strict=True))
    vec = scaled(vector_leg, 1.0 - np.asarray(vector_leg["_distance"].to_pylist() or [], float))
    fts = scaled(fts_leg, np.asarray(fts_leg["_score"].to_pylist() or [], float))
    fused = {i: w * vec.get(i, 0.0) + (1 - w) * fts.get(i, 0.0) for i in {*vec, *fts}}
    return sorted(fused.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)


def _pairs(res: pa.Table) -> list[tuple[str, float]]:
    return list(zip(res["id"].to_pylist(), res["_relevance_score"].to_pylist(), strict=True))

