"""Reciprocal rank fusion of stored rankings (no index needed)."""

from __future__ import annotations

from collections.abc import Sequence


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
