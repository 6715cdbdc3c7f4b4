"""Visual diversification: k-means over the top results' vectors, then one per cluster in turn.

From the users' reading: cluster the top ~50 results by image embedding (k ~ 5) and show one of
each cluster before the second of any, so near-duplicates (the same figure re-scanned, five
penguins) do not fill the first page. Pure numpy, deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def kmeans(vectors: np.ndarray, k: int, iterations: int = 25) -> np.ndarray:
    """Cluster labels (``0..k-1``) of ``vectors`` by spherical k-means (cosine).

    Deterministic: the first centre is the first row (the best-ranked result), each next one the
    row farthest from the centres so far; then Lloyd iterations until nothing moves.

    Args:
        vectors: ``(n, d)``, any norms (rows are normalised; a zero row is its own point).
        k: clusters wanted; at most ``n`` are made.
    """
    x = _unit(vectors)
    n = len(x)
    if n == 0:
        return np.zeros(0, np.int64)
    k = max(1, min(k, n))
    centres = [0]
    closest = 1.0 - x @ x[0]
    for _ in range(1, k):
        nxt = int(np.argmax(closest))
        if closest[nxt] <= 1e-12:  # fewer distinct points than k
            break
        centres.append(nxt)
        closest = np.minimum(closest, 1.0 - x @ x[nxt])
    c = x[centres]
    labels = np.argmax(x @ c.T, axis=1)
    for _ in range(iterations):
        c = _unit(np.stack([x[labels == j].sum(axis=0) if np.any(labels == j) else c[j]
                            for j in range(len(c))]))
        new = np.argmax(x @ c.T, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def interleave(labels: Sequence[int]) -> list[int]:
    """Positions in the new order: clusters in order of their best-ranked member, one from each
    in turn, each cluster's members in their original order (so the top result stays first)."""
    groups: dict[int, list[int]] = {}
    for pos, lab in enumerate(labels):
        groups.setdefault(int(lab), []).append(pos)
    queues = list(groups.values())  # dict order = order of first appearance = best member
    out: list[int] = []
    depth = 0
    while len(out) < len(labels):
        out += [q[depth] for q in queues if depth < len(q)]
        depth += 1
    return out


def pairwise_diversity(vectors: np.ndarray) -> dict[str, float]:
    """``ild``: mean pairwise cosine distance of the rows (intra-list diversity); ``ils``: mean
    pairwise cosine similarity (intra-list similarity, ``1 - ild``). Fewer than 2 rows: 0 / 1."""
    x = _unit(vectors)
    n = len(x)
    if n < 2:
        return {"ild": 0.0, "ils": 1.0}
    sims = x @ x.T
    mean_sim = float((sims.sum() - np.trace(sims)) / (n * (n - 1)))
    return {"ild": 1.0 - mean_sim, "ils": mean_sim}
