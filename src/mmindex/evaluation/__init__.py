"""Evaluation: IR metrics matching trec_eval, golden sets, rank fusion and the promotion gate.

All pure functions over rankings (query id -> [(doc id, score)]) and qrels
(query id -> {doc id: graded relevance}); searching the index happens elsewhere.
"""

from __future__ import annotations

from mmindex.evaluation.fusion import rrf
from mmindex.evaluation.gate import Check, GateDecision, GatePolicy, Significance, decide
from mmindex.evaluation.golden import (
    GoldenQuery,
    GoldenSet,
    load_golden,
    load_golden_dir,
    trec_qrels,
    trec_topics_to_queries,
)
from mmindex.evaluation.metrics import (
    EvalMetrics,
    evaluate_run,
    is_metric_name,
    paired_test,
    rank_results,
)

__all__ = [
    "Check",
    "EvalMetrics",
    "GateDecision",
    "GatePolicy",
    "GoldenQuery",
    "GoldenSet",
    "Significance",
    "decide",
    "evaluate_run",
    "is_metric_name",
    "load_golden",
    "load_golden_dir",
    "paired_test",
    "rank_results",
    "rrf",
    "trec_qrels",
    "trec_topics_to_queries",
]
