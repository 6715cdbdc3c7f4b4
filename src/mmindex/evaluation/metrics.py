"""IR metrics over a run (query id -> ranked results) and qrels, matching trec_eval.

Every value equals what ``pytrec_eval`` (trec_eval 9) computes for the same query, to 1e-6:

============== =============================== =========================================
ours           trec_eval / pytrec_eval         definition
============== =============================== =========================================
``hit@k``      ``success_k``                   1 if any relevant doc is in the top k
``recall@k``   ``recall_k``                    relevant in top k / all relevant
``precision@k````P_k``                         relevant in top k / k
``mrr@k``      ``recip_rank`` on a top-k run   1 / rank of the first relevant doc
``ndcg@k``     ``ndcg_cut_k``                  linear gain ``rel``, discount log2(rank+1)
``map``        ``map``                         mean precision at each relevant doc
============== =============================== =========================================

Conventions (trec_eval's unless said otherwise):

* A doc is relevant when its graded relevance is >= 1. Negative grades count as gain 0.
* Results are ranked by score descending; equal scores are ordered by doc id *descending*
  (trec_eval compares ``strcmp(b, a)``), whatever order the run lists them in.
* Aggregates are means over **every query in the qrels** -- unlike trec_eval, which skips
  queries the run has no results for. A query with no results scores 0 on every metric, so a
  search that silently returns nothing lowers the numbers the gate reads. Such queries are listed
  in :attr:`EvalMetrics.missing_queries`. Run queries absent from the qrels are ignored and
  listed in :attr:`EvalMetrics.ignored_queries`.
* A qrels query with no relevant doc scores 0 everywhere and is still averaged (trec_eval does
  the same); :func:`mmindex.evaluation.golden.load_golden` drops such queries up front.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mmindex.errors import ConfigError

Ranking = Sequence[tuple[str, float]] | Mapping[str, float]
Run = Mapping[str, Ranking]
Qrels = Mapping[str, Mapping[str, int]]

DEFAULT_KS = (1, 5, 10, 100)
_AT_K = ("hit", "recall", "precision", "mrr", "ndcg")
_NAME = re.compile(r"^(?:map|(?:hit|recall|precision|mrr|ndcg)@[1-9][0-9]*)$")


def is_metric_name(name: str) -> bool:
    """Whether ``name`` is a metric this module computes (``map``, ``ndcg@10``, ``hit@5`` ...)."""
    return bool(_NAME.match(name))


def rank_results(results: Ranking) -> list[str]:
    """Doc ids in trec_eval order: score descending, ties by doc id descending.

    A sequence may repeat a doc id (e.g. several chunks of one document); the doc keeps its
    highest score, because trec_eval would otherwise count it twice.
    """
    scores: dict[str, float] = {}
    pairs = results.items() if isinstance(results, Mapping) else results
    for doc, score in pairs:
        doc, score = str(doc), float(score)
        if math.isnan(score):
            raise ValueError(f"doc {doc!r} has a NaN score. Help: fix the scorer; NaN cannot rank.")
        if doc not in scores or score > scores[doc]:
            scores[doc] = score
    ranked = sorted(scores, reverse=True)  # doc id descending first...
    ranked.sort(key=scores.__getitem__, reverse=True)  # ...then a stable sort by score
    return ranked


def score_query(
    ranked: Sequence[str], judged: Mapping[str, int], ks: Iterable[int]
) -> dict[str, float]:
    """All metrics for one query, given its ranked doc ids and its qrels (doc -> grade)."""
    ks = sorted(set(ks))
    num_rel = sum(1 for g in judged.values() if g >= 1)
    grades = [judged.get(doc, 0) for doc in ranked]
    relevant = [g >= 1 for g in grades]
    first = next((i + 1 for i, r in enumerate(relevant) if r), None)
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)
    out: dict[str, float] = {}
    for k in ks:
        found = sum(relevant[:k])
        out[f"hit@{k}"] = 1.0 if found else 0.0
        out[f"recall@{k}"] = found / num_rel if num_rel else 0.0
        out[f"precision@{k}"] = found / k
        out[f"mrr@{k}"] = 1.0 / first if first is not None and first <= k else 0.0
        idcg = _dcg(ideal[:k])
        out[f"ndcg@{k}"] = _dcg(grades[:k]) / idcg if idcg > 0 else 0.0
    precisions, found = 0.0, 0
    for i, r in enumerate(relevant, 1):
        if r:
            found += 1
            precisions += found / i
    out["map"] = precisions / num_rel if num_rel else 0.0
    return out


def _dcg(grades: Sequence[int]) -> float:
    return sum(max(g, 0) / math.log2(i + 2) for i, g in enumerate(grades))


@dataclass(frozen=True)
class EvalMetrics:
    """The result of :func:`evaluate_run`: aggregate means and per-query values.

    Attributes:
        aggregate: metric name -> mean over all qrels queries.
        per_query: query id -> metric name -> value.
        missing_queries: qrels queries the run returned nothing for (scored 0).
        ignored_queries: run queries with no qrels (not scored).
        golden_version: version of the golden set evaluated on, when the caller knows it.
        mode: search mode the run came from (``vector``, ``fts``, ``hybrid``), when known.
    """

    aggregate: dict[str, float]
    per_query: dict[str, dict[str, float]]
    missing_queries: tuple[str, ...] = ()
    ignored_queries: tuple[str, ...] = ()
    golden_version: str | None = None
    mode: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_queries(self) -> int:
        return len(self.per_query)

    def metric(self, name: str) -> float:
        """The aggregate value of ``name``; a :class:`ConfigError` naming what exists if absent."""
        if name not in self.aggregate:
            raise ConfigError(
                f"metric {name!r} is not in the evaluation results (have: "
                f"{', '.join(sorted(self.aggregate))}). Help: use one of those names, or evaluate "
                f"with ks that include its cutoff (evaluate_run(..., ks=...))."
            )
        return self.aggregate[name]

    def per_query_values(self, name: str) -> dict[str, float]:
        """Query id -> value of metric ``name``."""
        self.metric(name)  # same error when absent
        return {qid: values[name] for qid, values in self.per_query.items()}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; :meth:`from_dict` reads it back."""
        return {
            "aggregate": dict(self.aggregate),
            "per_query": {q: dict(v) for q, v in self.per_query.items()},
            "missing_queries": list(self.missing_queries),
            "ignored_queries": list(self.ignored_queries),
            "golden_version": self.golden_version,
            "mode": self.mode,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalMetrics:
        return cls(
            aggregate=dict(data["aggregate"]),
            per_query={q: dict(v) for q, v in data.get("per_query", {}).items()},
            missing_queries=tuple(data.get("missing_queries", ())),
            ignored_queries=tuple(data.get("ignored_queries", ())),
            golden_version=data.get("golden_version"),
            mode=data.get("mode"),
            extra=dict(data.get("extra", {})),
        )


def evaluate_run(
    run: Run,
    qrels: Qrels,
    ks: Iterable[int] = DEFAULT_KS,
    *,
    golden_version: str | None = None,
    mode: str | None = None,
) -> EvalMetrics:
    """Score a run against qrels with trec_eval's definitions (see the module docstring).

    Args:
        run: query id -> results, either ``[(doc_id, score), ...]`` or ``{doc_id: score}``.
            Order is decided by score (ties: doc id descending), not by list position.
        qrels: query id -> {doc id: graded relevance}; a grade >= 1 is relevant.
        ks: cutoffs for ``hit@k``, ``recall@k``, ``precision@k``, ``mrr@k``, ``ndcg@k``;
            10 is always added so ``mrr@10`` and ``ndcg@10`` exist.
        golden_version: recorded on the result, so the gate can refuse mismatched comparisons.
        mode: recorded on the result (``vector``, ``fts``, ``hybrid``).

    Returns:
        EvalMetrics with means over all qrels queries (missing run queries score 0).

    Raises:
        ValueError: qrels are empty, a cutoff is not a positive int, or a score is NaN.
    """
    ks = sorted(set(ks) | {10})
    if any(not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f"cutoffs must be positive ints, got {ks}")
    if not qrels:
        raise ValueError("qrels are empty: there is nothing to evaluate. Help: load a golden set.")
    per_query = {
        qid: score_query(rank_results(run.get(qid, ())), judged, ks)
        for qid, judged in qrels.items()
    }
    names = list(next(iter(per_query.values())))
    aggregate = {n: math.fsum(v[n] for v in per_query.values()) / len(per_query) for n in names}
    return EvalMetrics(
        aggregate=aggregate,
        per_query=per_query,
        missing_queries=tuple(q for q in qrels if not run.get(q)),
        ignored_queries=tuple(q for q in run if q not in qrels),
        golden_version=golden_version,
        mode=mode,
    )


def paired_test(
    a: Mapping[str, float],
    b: Mapping[str, float],
    method: str = "permutation",
    *,
    alternative: str = "two-sided",
    n_resamples: int = 10_000,
    seed: int = 0,
) -> float:
    """p-value of a paired test on per-query values of two systems (``a`` minus ``b``).

    Args:
        a: query id -> metric value of system A (e.g. the candidate index).
        b: query id -> metric value of system B (e.g. production); same query ids as ``a``.
        method: ``"permutation"`` -- paired randomization test of the mean difference (exact over
            all 2**n sign flips when that is <= ``n_resamples``, else ``n_resamples`` seeded random
            flips), the test IR evaluation usually recommends; or ``"ttest"`` (paired t-test).
        alternative: ``"two-sided"``, ``"less"`` (A worse than B) or ``"greater"``.
        n_resamples: random sign flips for large query sets.
        seed: seed of those flips, so a gate decision is reproducible.

    Returns:
        The p-value in [0, 1]; 1.0 when every difference is zero.

    Raises:
        ValueError: the query ids differ, there are none, or method/alternative is unknown.
    """
    import numpy as np

    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise ValueError(
            f"paired test needs the same queries on both sides (only in a: {only_a[:5]}, only in "
            f"b: {only_b[:5]}). Help: evaluate both systems on the same golden set."
        )
    if not a:
        raise ValueError("paired test needs at least one query")
    if alternative not in ("two-sided", "less", "greater"):
        raise ValueError(f"alternative must be two-sided, less or greater, got {alternative!r}")
    qids = sorted(a)
    diff = np.array([a[q] - b[q] for q in qids], dtype=float)
    if np.allclose(diff, 0.0, rtol=0.0, atol=1e-12):  # equal up to float noise: no evidence
        return 1.0
    from mmindex.evaluation.pvalues import sign_flip_pvalue, ttest_1samp_pvalue

    if method == "ttest":
        if np.allclose(diff, diff[0], rtol=1e-9, atol=1e-12):  # ~zero variance: t is infinite
            sign = float(np.sign(diff.mean()))
            hit = {"two-sided": True, "less": sign < 0, "greater": sign > 0}[alternative]
            return 0.0 if hit else 1.0
        return ttest_1samp_pvalue(diff, alternative)
    if method == "permutation":
        # Permuting the pair labels within each query flips the sign of its difference.
        return sign_flip_pvalue(diff, alternative, n_resamples, np.random.default_rng(seed))
    raise ValueError(f"method must be 'permutation' or 'ttest', got {method!r}")
