"""Evaluate an index version on a golden set, gate it against production, record everything.

This is where evaluation meets the index: it searches (vector, full-text, hybrid) with the
index's own model, fits the candidate's hybrid fusion policy on the golden set and reports hybrid
held out (:mod:`mmindex.evaluation.fusion_sweep`: each query ranked by the policy fit on the other
folds; the in-sample figure beside it as ``hybrid@in-sample``; a reranked or diversified hybrid,
e.g. ``hybrid+rerank``, on that same held-out first stage, with ``hybrid+rerank@in-sample``
beside it; production's hybrid alike), scores with :mod:`mmindex.evaluation.metrics`, asks
:func:`mmindex.evaluation.gate.decide`, optionally applies the decision (promote / reject), and
appends the result to the ``_evaluations`` table (metrics per mode, per-query values, the golden
set's version, the decision, both versions' metrics, and on the hybrid row the ``fusion`` policy
fit on all queries, as JSON, and its sweep: what :func:`mmindex.index.fusion.fusion_of` reads back
for searches of that version).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from mmindex import index as ix
from mmindex.config import Settings
from mmindex.errors import ConfigError, GoldenSetError
from mmindex.evaluation.fusion_sweep import choose_fusion, held_out
from mmindex.evaluation.gate import GatePolicy, decide
from mmindex.evaluation.golden import GoldenSet, load_golden
from mmindex.evaluation.metrics import EvalMetrics, evaluate_run
from mmindex.evaluation.report import EvalReport
from mmindex.evaluation.runs import DEPTH, golden_run, query_vectors
from mmindex.evaluation.segments import coverage_warnings, query_segments, table_languages
from mmindex.index import fusion, ledger
from mmindex.search import PART_MODES, Index, latest_candidate, open_index

EVALUATIONS = fusion.EVALUATIONS
__all__ = ["DEPTH", "evaluate_index", "golden_run", "query_vectors", "score_dims", "score_index",
           "score_parts"]


def score_index(idx: Index, golden: GoldenSet, modes: list[str],
                vectors: list[Any] | None = None,
                tick: Callable[[], None] | None = None,
                diversity: bool = False) -> dict[str, EvalMetrics]:
    """Metrics of ``idx`` on ``golden`` for each search mode (queries embedded once, unless
    ``vectors`` are given); hybrid with ``idx.fusion``; ``diversity`` adds ``ild@10`` and
    ``ils@10`` (:mod:`mmindex.evaluation.diversity`) to each mode's aggregate."""
    from mmindex.evaluation.diversity import run_diversity

    if vectors is None:
        vectors = query_vectors(idx, golden) if any(m != "fts" for m in modes) else [None] * len(
            golden.queries)
    out = {}
    for m in modes:
        run = golden_run(idx, golden, m, vectors, tick)
        out[m] = evaluate_run(run, golden.qrels, golden_version=golden.version, mode=m)
        if diversity:
            out[m].aggregate.update(run_diversity(idx, run))
    return out


def score_dims(idx: Index, golden: GoldenSet, dims: list[int]) -> dict[str, EvalMetrics]:
    """Matryoshka side by side: exact search with vectors truncated to each of ``dims``.

    Document and query vectors are cut to the first ``d`` dimensions and re-normalised (the
    recipe's truncation), so one index answers "what would 512 dims cost us?" without re-embedding.
    Reported as modes ``vector@<d>``.
    """
    import numpy as np

    from mmindex.backends.base import truncate_normalize

    tbl = idx.table.search().select(["id", "vector"]).limit(None).to_arrow()
    ids = tbl["id"].to_pylist()
    docs = np.asarray(tbl["vector"].to_numpy(zero_copy_only=False).tolist(), np.float32)
    pairs = [(q, v) for q, v in zip(golden.queries, query_vectors(idx, golden), strict=True)
             if v is not None]
    texts = [q for q, _ in pairs]
    qv = np.stack([v for _, v in pairs])
    out = {}
    for d in sorted(set(dims)):
        if not 1 <= d <= idx.dims:
            raise ConfigError(f"dims {d}: the index has {idx.dims}")
        sims = truncate_normalize(qv, d) @ truncate_normalize(docs, d).T
        top = np.argsort(-sims, axis=1)[:, :DEPTH]
        run = {q.id: [(ids[j], float(sims[i, j])) for j in top[i]] for i, q in enumerate(texts)}
        out[f"vector@{d}"] = evaluate_run(run, golden.qrels, golden_version=golden.version,
                                          mode=f"vector@{d}")
    return out


def score_parts(idx: Index, golden: GoldenSet, modes: list[str],
                vectors: list[Any] | None) -> dict[str, EvalMetrics]:
    """The part vector columns side by side (modes ``text-vector``, ``image-vector``,
    ``fused-vector``) when the table has them; reported, never gated."""
    if not ix.has_parts(idx.table.schema):
        return {}
    extra = [m for m in PART_MODES if m not in modes]
    return score_index(idx, golden, extra, vectors) if extra else {}


def evaluate_index(settings: Settings, index: str, *, queries: str, qrels: str,
                   version: int | None = None, table: str | None = None,
                   modes: list[str] | None = None, gate: bool = True,
                   promote: bool = False, run_id: str | None = None,
                   dims: list[int] | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   rerank: str | None = None, diversify: bool = False) -> EvalReport:
    """Evaluate ``index`` at ``version`` (default: production) and gate it.

    Args:
        promote: apply the decision: pass -> production moves to the candidate; fail -> the
            candidate is tagged rejected and production is untouched.
        dims: also report exact search at these Matryoshka dims (modes ``vector@<d>``).
        rerank: a reranker spec: each mode is also scored reranked (``<mode>+rerank``: its top
            ``rerank_top`` rescored), side by side with its first stage.
        diversify: each mode is also scored diversified (``<mode>+diversify``), and every
            mode reports diversity (``ild@10``, ``ils@10``) beside relevance.
        progress: called with (searches done, searches in all) as the golden queries run.

    Raises:
        GoldenSetError: the golden set is empty, unreadable, or matches no item of the index.
    """
    from pathlib import Path

    q = Path(queries)
    golden = load_golden(queries, qrels, name=q.parent.name if q.stem == "queries" else q.stem)
    if not golden.queries:
        raise GoldenSetError(f"golden set {queries} has no query with relevance judgements")
    policy = GatePolicy.from_mapping(settings.gate)
    modes = list(dict.fromkeys([*(modes or settings.eval_modes), policy.mode] if gate
                               else (modes or settings.eval_modes)))
    if rerank:
        settings = settings.with_overrides(rerank_model=rerank)
    firsts = [m for m in modes if "+" not in m]
    modes = list(dict.fromkeys(modes + [f"{m}+rerank" for m in firsts if rerank]
                               + [f"{m}+diversify" for m in firsts if diversify]))
    db = ix.connect(settings)
    prod = ledger.production(db, index)
    if version is None and prod is None:
        # a new index: nothing promoted yet, so the candidate is the newest committed version
        table, version = latest_candidate(db, index) or (table, version)
    cand = open_index(index, settings.db, version=version, table=table, settings=settings)
    _check_overlap(cand, golden)
    is_prod = prod is not None and (prod["table_name"], prod["version"]) == (cand.table_name,
                                                                            cand.version)
    scored_prod = prod is not None and not is_prod  # production is scored beside the candidate
    searches = len(modes) * len(golden.queries) * (2 if scored_prod else 1)
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress:
            progress(done[0], searches)
    vectors = query_vectors(cand, golden) if any(not m.startswith("fts") for m in modes) \
        else None
    post = [m for m in modes if m.startswith("hybrid+")]  # first stage held out, by fold
    choice = choose_fusion(cand, golden, vectors) if post or "hybrid" in modes else None
    plain = [m for m in modes if m not in post] if choice else modes
    report = EvalReport(uuid.uuid4().hex[:12], index, cand.table_name, cand.version,
                        {"name": golden.name, "version": golden.version,
                         "queries": len(golden.queries), "sources": list(golden.sources)},
                        score_index(cand, golden, plain, vectors, tick, diversify))
    report.segments = query_segments(golden.queries)
    report.warnings = coverage_warnings(table_languages(cand.table), report.segments)
    if choice is not None:
        held_out(cand, golden, report.metrics, choice, diversify, vectors=vectors, post=post,
                 tick=tick)
        report.metrics = _in_order(report.metrics, modes)
        choice.sides = {m: {k: report.metrics[m].aggregate[k] for k in choice.held_out_metrics}
                        for m in ("vector", "fts") if m in report.metrics}
        report.fusion = choice.to_dict()
    if dims:
        report.metrics.update(score_dims(cand, golden, dims))
    report.metrics.update(score_parts(cand, golden, modes, vectors))
    if scored_prod:
        # opened with the fusion it serves (open_index reads it from _evaluations)
        pidx = open_index(index, settings.db, version=int(prod["version"]),
                          table=prod["table_name"], settings=settings)
        pvec = query_vectors(pidx, golden) if vectors is not None else None
        report.production = {"table": pidx.table_name, "version": pidx.version,
                             "metrics": score_index(pidx, golden, plain, pvec, tick=tick,
                                                    diversity=diversify)}
        if choice is not None:  # judged alike: its policy re-fit on these folds, held out
            held_out(pidx, golden, report.production["metrics"],
                     choose_fusion(pidx, golden, pvec), diversify, vectors=pvec, post=post,
                     tick=tick)
            report.production["metrics"] = _in_order(report.production["metrics"], modes)
    if gate:
        report.decision = decide(report.metrics,
                                 report.production["metrics"] if report.production else None,
                                 policy, segments=report.segments)
        if is_prod:  # not a first run: production itself, with nothing else to compare with
            report.decision = dataclasses.replace(report.decision, reasons=[
                f"evaluating production itself ({cand.table_name} v{cand.version}): no other "
                "version to compare with, so only floors were checked"
                if r.startswith("first run") else r for r in report.decision.reasons])
        report.regressed = _most_regressed(report, policy.mode, golden)
    if is_prod:
        report.action = "already-production"
    elif promote and report.decision is not None:
        details = {"eval_id": report.eval_id, "golden": report.golden,
                   "decision": report.to_dict()["decision"]}
        fn = ix.promote if report.decision.passed else ix.reject
        fn(db, index, cand.table_name, cand.version, run_id=run_id, actor="gate",
           reason="; ".join(report.decision.reasons), details=details)
        report.action = "promoted" if report.decision.passed else "rejected"
    _record(db, report)
    return report


def _in_order(metrics: dict[str, EvalMetrics], modes: list[str]) -> dict[str, EvalMetrics]:
    """``metrics`` with ``modes`` first, in their order (the in-sample figures after)."""
    return {m: metrics[m] for m in modes if m in metrics} | metrics


def _check_overlap(idx: Index, golden: GoldenSet) -> None:
    """A golden set whose relevant ids are absent from the index measures nothing: refuse it."""
    wanted = {d for rel in golden.qrels.values() for d in rel}
    ids = set(idx.table.search().select(["id"]).limit(None).to_arrow()["id"].to_pylist())
    if not wanted & ids:
        raise GoldenSetError(
            f"none of the {len(wanted)} relevant ids of golden set {golden.name} is in "
            f"{idx.table_name} v{idx.version}. Help: check that the golden set belongs to this "
            "index (its qrels name item ids)."
        )


def _most_regressed(report: EvalReport, mode: str, golden: GoldenSet,
                    metric: str = "ndcg@10", n: int = 10) -> list[dict[str, Any]]:
    if report.production is None:
        return []
    cand = report.metrics[mode].per_query
    prod = report.production["metrics"][mode].per_query
    texts = {q.id: q.text or q.image for q in golden.queries}
    deltas = [(cand[q][metric] - prod[q][metric], q) for q in cand if q in prod]
    return [{"query": q, "text": texts.get(q), "candidate": cand[q][metric],
             "production": prod[q][metric], "delta": d}
            for d, q in sorted(deltas)[:n] if d < 0]


def _record(db: Any, report: EvalReport) -> None:
    rows = []
    for mode, m in report.metrics.items():
        rows.append({
            "eval_id": report.eval_id, "index": report.index, "table_name": report.table,
            "version": report.version, "mode": mode, "golden_name": report.golden["name"],
            "golden_version": report.golden["version"],
            "metrics": json.dumps(m.aggregate, sort_keys=True),
            "per_query": json.dumps(m.per_query, sort_keys=True),
            "production": json.dumps(report.to_dict()["production"], default=str),
            "decision": json.dumps(report.to_dict()["decision"], default=str),
            "action": report.action, "at": ledger.now(),
            "fusion": (json.dumps(report.fusion["policy"], ensure_ascii=False)
                       if report.fusion and mode == "hybrid" else None),
            "fusion_sweep": (json.dumps(report.fusion, sort_keys=True)
                             if report.fusion and mode == "hybrid" else None)})
    fields = {k: pa.string() for k in rows[0]} | {"version": pa.int64(),
                                                   "at": pa.timestamp("us", tz="UTC")}
    ledger.append(db, EVALUATIONS, fields, rows)
