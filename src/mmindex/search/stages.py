"""Post-steps after the first stage: Qwen3-VL-Reranker (two-stage search) and diversification.

A mode string names the first stage and its post-steps (:mod:`mmindex.search.modes`):
``hybrid+rerank``, ``vector+diversify``, ``fts+rerank+diversify``. Order: first stage top ``N``
-> rerank those ``N`` -> diversify the top ``diversify_top`` -> top ``k``
(:class:`~mmindex.search.pipeline.Pipeline` runs them). Search and evaluation share this code,
so the gate scores what users get.

The steps read nothing from the table: they get the hit rows the pipeline fetched once
(``{id: row}`` with the columns :data:`RERANK_COLUMNS` / :data:`DIVERSIFY_COLUMNS` name).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmindex.search.diversify import interleave, kmeans
from mmindex.search.modes import POST_STEPS, parse_mode

__all__ = ["DIVERSIFY_COLUMNS", "DIVERSITY_COLUMN", "Hit", "POST_STEPS", "RERANK_COLUMNS",
           "diversify_hits", "diversity_vectors", "parse_mode", "rerank_hits", "rows_of",
           "vectors_of"]

DIVERSITY_COLUMN = "vector_image"  # clustered when the table has it; else the item vector
RERANK_COLUMNS = ("text", "images", "video")  # what the reranker reads of a document
DIVERSIFY_COLUMNS = ("vector", DIVERSITY_COLUMN)


@dataclass
class Hit:
    """One result: its final ``score`` (the reranker's when reranked, else the first stage's)."""

    id: str
    score: float
    first_score: float
    rerank_score: float | None = None
    cluster: int | None = None
    rerank_error: str | None = None  # "reason: message" when the reranker could not read it


def rows_of(idx: Any, ids: list[str], columns: list[str] | tuple[str, ...]
            ) -> dict[str, dict[str, Any]]:
    """``{id: row}`` of the given ids (the columns the table has), in one read."""
    from mmindex import index as ix

    if not ids:
        return {}
    have = set(idx.table.schema.names)
    cols = ["id", *[c for c in columns if c in have and c != "id"]]
    tbl = idx.table.search().where(ix.id_filter(ids)).select(cols).limit(len(ids)).to_arrow()
    return {r["id"]: r for r in tbl.to_pylist()}


def vectors_of(rows: dict[str, dict[str, Any]], ids: list[str]) -> np.ndarray:
    """Vectors to cluster and to measure diversity with: ``vector_image`` where the row has
    one, else the row's ``vector`` (a missing row: zeros)."""
    out = []
    for i in ids:
        row = rows.get(i, {})
        v = row.get(DIVERSITY_COLUMN)
        v = row.get("vector") if v is None else v
        out.append(np.asarray(v, np.float32) if v is not None else None)
    dims = next((len(v) for v in out if v is not None), 1)
    return np.stack([v if v is not None else np.zeros(dims, np.float32) for v in out]) \
        if out else np.zeros((0, dims), np.float32)


def diversity_vectors(idx: Any, ids: list[str]) -> np.ndarray:
    """:func:`vectors_of` the rows ``ids``, read from the table (evaluation's diversity)."""
    return vectors_of(rows_of(idx, ids, DIVERSIFY_COLUMNS), ids)


def rerank_hits(reranker: Any, text: str | None, image: str | Path | None, hits: list[Hit],
                rows: dict[str, dict[str, Any]]) -> list[Hit]:
    """``hits`` rescored by ``reranker`` and sorted by its score; a document it cannot read
    keeps its first-stage order after the scored ones, with ``rerank_error`` set."""
    from mmindex.items import Item

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


def diversify_hits(hits: list[Hit], rows: dict[str, dict[str, Any]], top: int,
                   clusters: int) -> list[Hit]:
    """The first ``top`` hits clustered (k-means, ``clusters``) and interleaved; the rest
    follow unchanged."""
    head, tail = hits[:top], hits[top:]
    labels = kmeans(vectors_of(rows, [h.id for h in head]), clusters)
    for h, lab in zip(head, labels, strict=True):
        h.cluster = int(lab)
    return [head[p] for p in interleave(labels)] + tail
