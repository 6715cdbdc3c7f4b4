"""Post-steps after the first stage: Qwen3-VL-Reranker (two-stage search) and diversification.

A mode string names the first stage and its post-steps: ``hybrid+rerank``, ``vector+diversify``,
``fts+rerank+diversify``; the first stage is any :meth:`~mmindex.search.reader.Index.ranked`
mode (``vector``, ``ann``, ``fts``, ``hybrid``, ``vector:COLUMN`` for an extra vector column).
Order: first stage top ``N`` -> rerank those ``N`` -> diversify the top ``diversify_top`` ->
top ``k``. Search and evaluation share this code, so the gate scores what users get.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmindex.errors import ConfigError
from mmindex.search.diversify import interleave, kmeans

POST_STEPS = ("rerank", "diversify")
DIVERSITY_COLUMN = "vector_image"  # clustered when the table has it; else the item vector


@dataclass
class Hit:
    """One result: its final ``score`` (the reranker's when reranked, else the first stage's)."""

    id: str
    score: float
    first_score: float
    rerank_score: float | None = None
    cluster: int | None = None
    rerank_error: str | None = None  # "reason: message" when the reranker could not read it


def parse_mode(mode: str) -> tuple[str, bool, bool]:
    """``(first stage, rerank?, diversify?)`` of a mode such as ``hybrid+rerank``.

    Raises:
        ConfigError: an unknown post-step.
    """
    base, *steps = mode.split("+")
    unknown = [s for s in steps if s not in POST_STEPS]
    if unknown or len(set(steps)) != len(steps):
        raise ConfigError(f"mode {mode!r}: post-steps are {' and '.join(POST_STEPS)}, each at "
                          "most once, e.g. hybrid+rerank+diversify")
    return base, "rerank" in steps, "diversify" in steps


def rows_of(idx: Any, ids: list[str], columns: list[str]) -> dict[str, dict[str, Any]]:
    """``{id: row}`` of the given ids (the columns the table has)."""
    from mmindex import index as ix

    if not ids:
        return {}
    have = set(idx.table.schema.names)
    cols = ["id", *[c for c in columns if c in have and c != "id"]]
    tbl = idx.table.search().where(ix.id_filter(ids)).select(cols).limit(len(ids)).to_arrow()
    return {r["id"]: r for r in tbl.to_pylist()}


def diversity_vectors(idx: Any, ids: list[str]) -> np.ndarray:
    """Vectors to cluster and to measure diversity with: ``vector_image`` where the table has
    it and the row's is set, else the row's ``vector``."""
    rows = rows_of(idx, ids, ["vector", DIVERSITY_COLUMN])
    out = []
    for i in ids:
        row = rows.get(i, {})
        v = row.get(DIVERSITY_COLUMN) or row.get("vector")
        out.append(np.asarray(v, np.float32) if v is not None else None)
    dims = next((len(v) for v in out if v is not None), 1)
    return np.stack([v if v is not None else np.zeros(dims, np.float32) for v in out]) \
        if out else np.zeros((0, dims), np.float32)


def rerank_hits(idx: Any, reranker: Any, text: str | None, image: str | Path | None,
                hits: list[Hit]) -> list[Hit]:
    """``hits`` rescored by ``reranker`` and sorted by its score; a document it cannot read
    keeps its first-stage order after the scored ones, with ``rerank_error`` set."""
    from mmindex.items import Item

    rows = rows_of(idx, [h.id for h in hits], ["text", "images", "video"])
    docs = [Item(h.id, text=rows.get(h.id, {}).get("text") or "",
                 images=tuple(rows.get(h.id, {}).get("images") or ()),
                 video=rows.get(h.id, {}).get("video")) for h in hits]
    query = Item("query", text=text or "", images=(str(image),) if image else ())
    scores, errors = reranker.score_each(query, docs)
    for h, s in zip(hits, scores, strict=True):
        h.rerank_score, h.rerank_error = s, errors.get(h.id)
        h.score = s if s is not None else h.score
    scored = sorted((h for h in hits if h.rerank_score is not None),
                    key=lambda h: -h.rerank_score)  # stable: ties keep first-stage order
    return scored + [h for h in hits if h.rerank_score is None]


def diversify_hits(idx: Any, hits: list[Hit], top: int, clusters: int) -> list[Hit]:
    """The first ``top`` hits clustered (k-means, ``clusters``) and interleaved; the rest
    follow unchanged."""
    head, tail = hits[:top], hits[top:]
    labels = kmeans(diversity_vectors(idx, [h.id for h in head]), clusters)
    for h, lab in zip(head, labels, strict=True):
        h.cluster = int(lab)
    return [head[p] for p in interleave(labels)] + tail


def post_ranked(idx: Any, text: str | None, vector: np.ndarray | None, *, k: int = 10,
                mode: str = "vector", image: str | Path | None = None,
                rerank: str | bool | None = None, rerank_top: int | None = None,
                diversify: bool = False, diversify_top: int | None = None,
                clusters: int | None = None) -> list[Hit]:
    """The top ``k`` :class:`Hit` of ``mode`` with its post-steps (``rerank`` a reranker spec,
    or True for the index's ``rerank_model``; the mode's ``+rerank`` / ``+diversify`` turn them
    on too).

    Raises:
        ConfigError: an unknown mode, post-step, or reranker spec.
        ModelUnavailableError: the reranker's weights are not on this machine.
        ItemError: the query is empty or its image unreadable (reranking).
    """
    base, mode_rerank, mode_div = parse_mode(mode)
    spec = rerank if isinstance(rerank, str) else (idx.rerank_model if rerank or mode_rerank
                                                   else None)
    diversify = diversify or mode_div
    n_rerank = rerank_top or idx.rerank_top
    n_div = diversify_top or idx.diversify_top
    if min(n_rerank, n_div, k) < 1:
        raise ConfigError("k, rerank_top and diversify_top must be >= 1")
    depth = max(k, n_rerank if spec else 0, n_div if diversify else 0)
    hits = [Hit(i, float(s), float(s)) for i, s in idx.ranked(text, vector, k=depth, mode=base)]
    if spec:
        from mmindex.backends import load_reranker

        reranker = load_reranker(spec, device=idx.device, cache_dir=idx.cache_dir)
        hits = rerank_hits(idx, reranker, text, image, hits[:n_rerank]) + hits[n_rerank:]
    if diversify:
        hits = diversify_hits(idx, hits, n_div, clusters or idx.diversify_clusters)
    return hits[:k]
