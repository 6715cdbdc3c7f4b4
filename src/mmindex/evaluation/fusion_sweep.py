"""Choose an index version's hybrid fusion on the golden set.

Each golden query is searched once per side (exact vector top 100, full text top 100); every
fusion of :data:`mmindex.index.fusion.SWEEP` -- RRF(K=60) and ``linear:W`` for W = 0.0, 0.1, ...
1.0 -- then fuses those stored legs with LanceDB's own hybrid code, and the fusion with the best
nDCG@10 wins (ties: hit@5, then MRR@10, then the sweep's order, RRF first). The sweep holds
``linear:1.0`` (ranks as vector search) and ``linear:0.0`` (as full-text search), so the chosen
fusion scores at least as well as the better side alone, on the set it was chosen on; how much
better is reported beside it (:attr:`FusionChoice.gain`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mmindex.evaluation.golden import GoldenSet
from mmindex.evaluation.metrics import evaluate_run
from mmindex.index import fusion
from mmindex.search import Index

CHOICE_METRICS = ("ndcg@10", "hit@5", "mrr@10")
DEPTH = fusion.DEPTH


@dataclass
class FusionChoice:
    """The chosen fusion, the sweep behind it, and the sides alone (aggregates per fusion)."""

    chosen: str
    sweep: dict[str, dict[str, float]]
    sides: dict[str, dict[str, float]] = field(default_factory=dict)  # vector, fts

    @property
    def gain(self) -> float:
        """nDCG@10 of the chosen fusion minus that of the better side alone."""
        best = max((m["ndcg@10"] for m in self.sides.values()), default=0.0)
        return self.sweep[self.chosen]["ndcg@10"] - best

    def to_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen, "sweep": self.sweep, "sides": self.sides,
                "gain_ndcg@10": self.gain}


def choose_fusion(idx: Index, golden: GoldenSet, vectors: Sequence[Any],
                  sweep: Sequence[str] = fusion.SWEEP) -> FusionChoice:
    """Sweep ``sweep`` on ``golden`` for ``idx``; set ``idx.fusion`` to the winner.

    Args:
        vectors: the golden queries' vectors, in order (None where a query has none).
    """
    from mmindex.index.fulltext import FtsSearch

    fts = FtsSearch.of(idx.table)
    fixed: dict[str, list] = {}  # queries with one side only: every fusion ranks them alike
    stored: dict[str, tuple[Any, Any]] = {}
    for q, vec in zip(golden.queries, vectors, strict=True):
        query = fts.query(q.text)
        if vec is None or query is None:
            fixed[q.id] = idx.ranked(q.text, vec, k=DEPTH, mode="hybrid")
        else:
            stored[q.id] = fusion.legs(idx.table, query, vec, DEPTH)
    agg: dict[str, dict[str, float]] = {}
    for spec in sweep:
        run = {**fixed, **{qid: fusion.fuse(v, f, spec) for qid, (v, f) in stored.items()}}
        m = evaluate_run(run, golden.qrels, golden_version=golden.version, mode="hybrid")
        agg[spec] = {k: m.aggregate[k] for k in CHOICE_METRICS}
    best = max(sweep, key=lambda s: (*(agg[s][k] for k in CHOICE_METRICS), -sweep.index(s)))
    idx.fusion = best
    return FusionChoice(best, agg)
