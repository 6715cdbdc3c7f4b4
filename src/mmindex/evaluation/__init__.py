"""The evaluate stage: golden sets, IR metrics matching trec_eval, and the promotion gate.

- :mod:`~mmindex.evaluation.golden` / :mod:`~mmindex.evaluation.trec`: golden sets (BEIR
  queries.jsonl with text and/or image queries, TREC topics, qrels) and TREC collections.
- :mod:`~mmindex.evaluation.metrics` / :mod:`~mmindex.evaluation.gate`: pure functions over
  rankings (query id -> [(doc id, score)]) and qrels; the gate policy and its decision.
- :mod:`~mmindex.evaluation.runner` / :mod:`~mmindex.evaluation.report`: where evaluation meets
  the index: search a version with its own model, score, decide, promote or reject, record;
  :mod:`~mmindex.evaluation.runs`: the golden queries' rankings per mode, as search serves them.
- :mod:`~mmindex.evaluation.fusion_sweep`: the candidate's hybrid fusion policy, fit on the golden
  set and scored on folds it was not fit on (``hybrid+rerank`` too: its first stage held out).
- :mod:`~mmindex.evaluation.intervals` / :mod:`~mmindex.evaluation.segments`: bootstrap
  confidence intervals, and the golden set's segments (language, length, modality, its own).
"""

from __future__ import annotations

from mmindex.evaluation.fusion_sweep import FusionChoice, choose_fusion, cross_validate, fit_policy
from mmindex.evaluation.gate import (
    Check,
    GateDecision,
    GatePolicy,
    SegmentGate,
    Significance,
    decide,
)
from mmindex.evaluation.golden import (
    GoldenQuery,
    GoldenSet,
    load_golden,
    load_golden_dir,
    trec_qrels,
    trec_topics_to_queries,
)
from mmindex.evaluation.intervals import bootstrap_intervals
from mmindex.evaluation.metrics import (
    EvalMetrics,
    evaluate_run,
    is_metric_name,
    paired_test,
    rank_results,
)
from mmindex.evaluation.report import EvalReport
from mmindex.evaluation.runner import evaluate_index, score_dims, score_index
from mmindex.evaluation.segments import query_segments
from mmindex.evaluation.trec import iter_docs, iter_qrels, iter_topics, trec_to_beir

__all__ = [
    "Check",
    "EvalMetrics",
    "EvalReport",
    "FusionChoice",
    "GateDecision",
    "GatePolicy",
    "GoldenQuery",
    "GoldenSet",
    "SegmentGate",
    "Significance",
    "bootstrap_intervals",
    "choose_fusion",
    "cross_validate",
    "decide",
    "evaluate_index",
    "evaluate_run",
    "fit_policy",
    "is_metric_name",
    "iter_docs",
    "iter_qrels",
    "iter_topics",
    "load_golden",
    "load_golden_dir",
    "paired_test",
    "query_segments",
    "rank_results",
    "score_dims",
    "score_index",
    "trec_qrels",
    "trec_to_beir",
    "trec_topics_to_queries",
]
