"""Fit an index version's hybrid fusion policy on the golden set, and score it held out.

Each golden query is searched once per side (exact vector top 100, full text top 100); every
fusion of :data:`mmindex.index.fusion.SWEEP` then fuses those stored legs, and each query's
nDCG@10, hit@5 and MRR@10 is kept per fusion. A policy (:class:`~mmindex.index.fusion.
FusionPolicy`) is fit on a set of queries by :func:`fit_policy`:

- its default is the fusion with the best mean over all of them (ties: hit@5, MRR@10, then the
  sweep's order, RRF first); ``fallback="rrf"`` fixes it to RRF instead;
- a segment (:meth:`~mmindex.index.querykind.QueryKind.key` of the query as search sees it:
  detected language, one word or more) with at least :data:`MIN_SEGMENT` queries gets its own
  best fusion when that beats the default there.

Chosen on the queries it is scored on, a fusion looks better than it is. :func:`choose_fusion`
therefore scores the policy by k-fold cross-validation (:data:`FOLDS` folds, seeded, stratified
by segment; fewer folds when there are fewer queries): each query is ranked by the policy fit on
the other folds (:attr:`FusionChoice.held_out`, the hybrid figure evaluation reports and the gate
judges). The policy stored for the version is fit on all queries (:attr:`FusionChoice.in_sample`
is its run on those same queries, reported beside as in-sample).

A hybrid with post-steps (``hybrid+rerank``, ``hybrid+diversify``) is judged alike
(:func:`post_step_runs`): each query's first stage is fused by the policy fit without its fold
(the candidates ``hybrid``'s held-out run ranks), then reranked / diversified; the same mode on the
in-sample first stage is reported beside it as ``<mode>@in-sample`` (never gated).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mmindex.evaluation.golden import GoldenSet
from mmindex.evaluation.metrics import EvalMetrics, evaluate_run
from mmindex.evaluation.policy import IN_SAMPLE_SUFFIX
from mmindex.evaluation.runs import golden_run
from mmindex.index import fusion
from mmindex.index.fusion import FusionPolicy
from mmindex.index.querykind import QueryKind
from mmindex.search import Index

CHOICE_METRICS = ("ndcg@10", "hit@5", "mrr@10")
IN_SAMPLE = "hybrid" + IN_SAMPLE_SUFFIX  # hybrid scored on the queries its policy was fit on
DEPTH = fusion.DEPTH
FOLDS, SEED = 5, 0
#: a segment needs this many fitting queries for a fusion of its own: with fewer, one query
#: moves its mean nDCG@10 by 0.1 or more, and the pick among 14 fusions follows noise (measured
#: held out in docs/korean-search.md: 5 lost to 10 on the sample)
MIN_SEGMENT = 10

Run = dict[str, list]
Scores = dict[str, dict[str, tuple[float, ...]]]  # spec -> query id -> CHOICE_METRICS


@dataclass
class FusionChoice:
    """The policy fit on all queries, its sweep, the sides alone, and both runs."""

    policy: FusionPolicy
    sweep: dict[str, dict[str, float]]  # spec -> aggregates over all queries (in-sample)
    held_out: Run = field(default_factory=dict, repr=False)
    in_sample: Run = field(default_factory=dict, repr=False)
    folds: int = 0
    sides: dict[str, dict[str, float]] = field(default_factory=dict)  # vector, fts
    held_out_metrics: dict[str, float] = field(default_factory=dict)
    in_sample_metrics: dict[str, float] = field(default_factory=dict)
    #: query id -> the policy fit without that query's fold (what ranks it held out)
    fold_policy: dict[str, FusionPolicy] = field(default_factory=dict, repr=False)

    @property
    def chosen(self) -> str:
        return str(self.policy)

    def gain(self, held_out: bool = True) -> float:
        """nDCG@10 of the policy (held out, or in-sample) minus that of the better side alone."""
        best = max((m["ndcg@10"] for m in self.sides.values()), default=0.0)
        ours = self.held_out_metrics if held_out else self.in_sample_metrics
        return ours.get("ndcg@10", 0.0) - best

    def to_dict(self) -> dict[str, Any]:
        sweep = dict(self.sweep)
        if self.chosen not in sweep:  # the policy's own row (in-sample), as the report reads it
            sweep[self.chosen] = self.in_sample_metrics
        return {"chosen": self.chosen, "policy": json_policy(self.policy), "folds": self.folds,
                "held_out": self.held_out_metrics, "in_sample": self.in_sample_metrics,
                "sweep": sweep, "sides": self.sides,
                "gain_ndcg@10": self.gain(held_out=False),  # beside the in-sample sweep
                "held_out_gain_ndcg@10": self.gain()}


def json_policy(p: FusionPolicy) -> dict[str, Any]:
    return {"default": p.default, "segments": dict(p.segments)}


def spec_runs(idx: Index, golden: GoldenSet, vectors: Sequence[Any],
              sweep: Sequence[str]) -> dict[str, Run]:
    """spec -> the golden queries' hybrid run with that fusion (legs searched once)."""
    from mmindex.index.fulltext import FtsSearch

    fts = FtsSearch.of(idx.table)
    fixed: Run = {}  # queries with one side only: every fusion ranks them alike
    stored: dict[str, tuple[Any, Any]] = {}
    for q, vec in zip(golden.queries, vectors, strict=True):
        query = fts.query(q.text)
        if vec is None or query is None:
            fixed[q.id] = idx.ranked(q.text, vec, k=DEPTH, mode="hybrid")
        else:
            stored[q.id] = fusion.legs(idx.table, query, vec, DEPTH)
    return {s: {**fixed, **{q: fusion.fuse(v, f, s) for q, (v, f) in stored.items()}}
            for s in sweep}


def per_query(runs: Mapping[str, Run], qrels: Mapping[str, Any]) -> Scores:
    out = {}
    for spec, run in runs.items():
        pq = evaluate_run(run, qrels).per_query
        out[spec] = {q: tuple(m[k] for k in CHOICE_METRICS) for q, m in pq.items()}
    return out


def _best(scores: Scores, qids: Sequence[str], specs: Sequence[str], prefer: str | None) -> str:
    def key(s: str) -> tuple:
        means = [sum(scores[s][q][i] for q in qids) / len(qids) for i in range(3)]
        return (*(round(m, 9) for m in means), s == prefer, -specs.index(s))
    return max(specs, key=key)


def fit_policy(scores: Scores, kinds: Mapping[str, str], qids: Sequence[str],
               sweep: Sequence[str], *, min_queries: int = MIN_SEGMENT,
               fallback: str = "global") -> FusionPolicy:
    """The policy fit on ``qids`` (module docstring); ``kinds``: query id -> segment key;
    ``fallback``: ``global`` (the best fusion over ``qids``) or a spec for the default."""
    sweep = list(sweep)
    if not qids:
        return FusionPolicy(fusion.DEFAULT if fallback == "global" else fallback)
    default = _best(scores, qids, sweep, None) if fallback == "global" else fallback
    segments = {}
    for key in sorted({kinds[q] for q in qids}):
        members = [q for q in qids if kinds[q] == key]
        if len(members) >= min_queries:
            pick = _best(scores, members, [*sweep, *([default] if default not in sweep else [])],
                         default)
            if pick != default:
                segments[key] = pick
    return FusionPolicy(default, segments)


def folds_of(qids: Sequence[str], kinds: Mapping[str, str], k: int = FOLDS,
             seed: int = SEED) -> list[list[str]]:
    """``k`` folds (at most one per query), seeded, each segment dealt round the folds."""
    k = max(1, min(k, len(qids)))
    rng, folds = random.Random(seed), [[] for _ in range(k)]
    i = 0
    for key in sorted({kinds[q] for q in qids}):
        members = sorted(q for q in qids if kinds[q] == key)
        rng.shuffle(members)
        for q in members:
            folds[i % k].append(q)
            i += 1
    return folds


def cross_validate(runs: Mapping[str, Run], scores: Scores, kinds: Mapping[str, str],
                   qids: Sequence[str], sweep: Sequence[str], *, k: int = FOLDS,
                   seed: int = SEED, **fit: Any) -> tuple[Run, list[FusionPolicy]]:
    """Each query ranked by the policy fit without its fold; and the fold's policies."""
    held: Run = {}
    policies = []
    for fold in folds_of(qids, kinds, k, seed):
        out = set(fold)
        pol = fit_policy(scores, kinds, [q for q in qids if q not in out], sweep, **fit)
        policies.append(pol)
        for q in fold:
            held[q] = runs[_spec_of(pol, kinds[q])][q]
    return held, policies


def _spec_of(policy: FusionPolicy, kind: str) -> str:
    return policy.segments.get(kind, policy.default)


def choose_fusion(idx: Index, golden: GoldenSet, vectors: Sequence[Any],
                  sweep: Sequence[str] = fusion.SWEEP, *, folds: int = FOLDS, seed: int = SEED,
                  **fit: Any) -> FusionChoice:
    """Fit the policy on ``golden`` for ``idx``, score it held out; set ``idx.fusion`` to the
    policy fit on all queries.

    Args:
        vectors: the golden queries' vectors, in order (None where a query has none).
        fit: :func:`fit_policy`'s ``min_queries`` / ``fallback``.
    """
    sweep = list(sweep)
    runs = spec_runs(idx, golden, vectors, sweep)
    scores = per_query(runs, golden.qrels)
    qids = [q.id for q in golden.queries if q.id in golden.qrels]
    kinds = {q.id: QueryKind.of(q.text).key() for q in golden.queries}
    held, pols = cross_validate(runs, scores, kinds, qids, sweep, k=folds, seed=seed, **fit)
    fold_policy = {q: p for fold, p in zip(folds_of(qids, kinds, folds, seed), pols, strict=True)
                   for q in fold}
    policy = fit_policy(scores, kinds, qids, sweep, **fit)
    in_sample = {q: runs[_spec_of(policy, kinds[q])][q] for q in qids}
    agg = {s: {m: sum(scores[s][q][i] for q in qids) / len(qids)
               for i, m in enumerate(CHOICE_METRICS)} for s in sweep}
    idx.fusion = policy

    def aggregate(run: Run) -> dict[str, float]:
        return {m: evaluate_run(run, golden.qrels).aggregate[m] for m in CHOICE_METRICS}
    return FusionChoice(policy, agg, held, in_sample, len(folds_of(qids, kinds, folds, seed)),
                        held_out_metrics=aggregate(held), in_sample_metrics=aggregate(in_sample),
                        fold_policy=fold_policy)


def post_step_runs(idx: Index, golden: GoldenSet, mode: str, vectors: Sequence[Any],
                   choice: FusionChoice, tick: Any = None) -> tuple[Run, Run]:
    """``(held out, in-sample)`` runs of ``mode``, a hybrid with post-steps: held out, each
    query's first stage is fused by the policy fit without its fold (:attr:`FusionChoice.
    fold_policy`), in-sample by the policy fit on all queries; a query both give the same fusion
    is searched (and reranked) once; ``tick``: called after each held-out query."""
    held = golden_run(idx, golden, mode, vectors, tick, fusions=choice.fold_policy)
    differ = [i for i, q in enumerate(golden.queries) if q.id in choice.fold_policy
              and choice.fold_policy[q.id].spec(q.text) != choice.policy.spec(q.text)]
    sub = dataclasses.replace(golden, queries=[golden.queries[i] for i in differ])
    again = golden_run(idx, sub, mode, [vectors[i] for i in differ],
                       fusions={q.id: choice.policy for q in sub.queries})
    return held, {**held, **again}


def held_out(idx: Index, golden: GoldenSet, metrics: dict[str, EvalMetrics],
             choice: FusionChoice, diversity: bool = False, *, vectors: Sequence[Any] = (),
             post: Sequence[str] = (), tick: Any = None) -> None:
    """In ``metrics`` (mode -> metrics), ``hybrid`` becomes the held-out figure (each query
    ranked by the policy fit without its fold); the policy fit on all queries, scored on them,
    stays beside it as :data:`IN_SAMPLE` (never gated). Each mode of ``post`` (hybrid with
    post-steps, e.g. ``hybrid+rerank``; ``vectors``: the golden queries') is scored both ways
    (:func:`post_step_runs`): held out as ``mode``, in-sample as ``mode@in-sample``."""
    from mmindex.evaluation.diversity import run_diversity

    def scored(run: Run, mode: str) -> EvalMetrics:
        out = evaluate_run(run, golden.qrels, golden_version=golden.version, mode=mode)
        if diversity:
            out.aggregate.update(run_diversity(idx, run))
        return out

    later = {}
    for mode in post:
        held, inside = post_step_runs(idx, golden, mode, vectors, choice, tick)
        metrics[mode] = scored(held, mode)
        later[mode + IN_SAMPLE_SUFFIX] = scored(inside, mode + IN_SAMPLE_SUFFIX)
    if "hybrid" in metrics:
        inside = dataclasses.replace(metrics["hybrid"], mode=IN_SAMPLE)  # hybrid keeps its place
        metrics["hybrid"] = scored(choice.held_out, "hybrid")
        metrics[IN_SAMPLE] = inside
    metrics.update(later)
