"""The evaluation report: metrics of a candidate (and production), their confidence intervals
and per-segment figures, the gate decision, what was done, and its markdown (shown on the
evaluate flow run and by ``mmindex evaluate``).

:meth:`EvalReport.to_dict` keeps every key it had (``metrics``: mode -> aggregate, ...) and adds
``intervals``, ``confidence``, ``segments`` and ``warnings``; ``per_query=True`` (``mmindex
evaluate --json``) adds the per-query values and each query's segments.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mmindex.evaluation import intervals as ci
from mmindex.evaluation.gate import GateDecision
from mmindex.evaluation.metrics import EvalMetrics
from mmindex.evaluation.policy import IN_SAMPLE_SUFFIX
from mmindex.evaluation.segment_report import interval_lines, segment_lines, warning_lines
from mmindex.evaluation.segments import (
    MIN_SEGMENT_QUERIES,
    by_segment,
    small_segment_warnings,
)


@dataclass
class EvalReport:
    """Metrics of a candidate (and production), the gate decision and what was done."""

    eval_id: str
    index: str
    table: str
    version: int
    golden: dict[str, Any]
    metrics: dict[str, EvalMetrics]
    production: dict[str, Any] | None = None  # {"table", "version", "metrics": {mode: ...}}
    decision: GateDecision | None = None
    action: str = "none"  # promoted | rejected | none | already-production
    regressed: list[dict[str, Any]] = field(default_factory=list)
    fusion: dict[str, Any] | None = None  # FusionChoice.to_dict(): the hybrid fusion chosen
    segments: dict[str, tuple[str, ...]] = field(default_factory=dict)  # query id -> labels
    warnings: list[str] = field(default_factory=list)  # e.g. a language with few golden queries
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def intervals(self, mode: str) -> dict[str, tuple[float, float]]:
        """The candidate's 95 % bootstrap interval of each metric in ``mode`` (computed once)."""
        m = self.metrics[mode]
        return self._cached(("ci", mode), (m,), lambda: ci.bootstrap_intervals(m.per_query))

    def by_segment(self, mode: str) -> dict[str, dict[str, Any]]:
        """Segment label -> ``queries``, ``metrics``, ``intervals`` (and ``production``'s
        metrics on the same queries) for ``mode``; empty when the report has no segments."""
        m = self.metrics[mode]
        prod = (self.production or {}).get("metrics", {}).get(mode)

        def build() -> dict[str, dict[str, Any]]:
            prod_segs = by_segment(prod, self.segments) if prod is not None else {}
            out = {}
            for label, seg in by_segment(m, self.segments).items():
                out[label] = {"queries": seg.num_queries, "small": seg.num_queries
                              < MIN_SEGMENT_QUERIES, "metrics": seg.aggregate,
                              "intervals": ci.bootstrap_intervals(seg.per_query)}
                if label in prod_segs:
                    out[label]["production"] = prod_segs[label].aggregate
            return out
        return self._cached(("seg", mode), (m, prod), build)

    def all_warnings(self) -> list[str]:
        """The runner's warnings, one per segment with too few queries, and one when the
        confidence intervals cannot be computed (no scipy: the core install)."""
        from mmindex.errors import installed

        no_ci = [] if installed("scipy") else [
            "no confidence intervals: they need scipy, which the core install leaves out. "
            "Help: pip install 'mmindex[stats]'"]
        return self.warnings + small_segment_warnings(self.segments) + no_ci

    def _cached(self, key: Any, inputs: tuple[Any, ...], make: Any) -> Any:
        """``make()`` once per key, again when an input was replaced (a mode re-scored)."""
        hit = self._cache.get(key)
        if hit is None or any(a is not b for a, b in zip(hit[0], inputs, strict=True)):
            hit = self._cache[key] = (inputs, make())
        return hit[1]

    def to_dict(self, per_query: bool = False) -> dict[str, Any]:
        """A JSON-able dict; ``per_query`` adds every query's values and its segments."""
        out = self._base_dict()
        n = self.golden.get("queries") or max((e.num_queries for e in self.metrics.values()),
                                              default=0)
        out["confidence"] = ci.describe(n)
        out["intervals"] = {m: {k: list(v) for k, v in self.intervals(m).items()}
                            for m in self.metrics}
        out["segments"] = {m: {label: {**s, "intervals": {k: list(v) for k, v in
                                                           s["intervals"].items()}}
                               for label, s in self.by_segment(m).items()}
                           for m in self.metrics} if self.segments else {}
        out["warnings"] = self.all_warnings()
        if per_query:
            out["per_query"] = {m: e.per_query for m, e in self.metrics.items()}
            out["query_segments"] = {q: list(labels) for q, labels in self.segments.items()}
        return out

    def _base_dict(self) -> dict[str, Any]:
        return {
            "eval_id": self.eval_id, "index": self.index, "table": self.table,
            "version": self.version, "golden": self.golden, "action": self.action,
            "metrics": {m: e.aggregate for m, e in self.metrics.items()},
            "production": None if self.production is None else {
                **{k: v for k, v in self.production.items() if k != "metrics"},
                "metrics": {m: e.aggregate for m, e in self.production["metrics"].items()}},
            "decision": None if self.decision is None else {
                "passed": self.decision.passed, "reasons": self.decision.reasons,
                "mode": self.decision.mode, "deltas": self.decision.deltas,
                "checks": [asdict(c) for c in self.decision.checks]},
            "regressed": self.regressed,
            "fusion": self.fusion,
        }

    def to_markdown(self) -> str:
        return render_markdown(self)


SHOWN = ("hit@1", "hit@5", "hit@10", "recall@10", "recall@100", "mrr@10", "ndcg@10", "map")
DIVERSITY = ("ild@10", "ils@10")  # shown when evaluated with --diversify


def render_markdown(r: EvalReport) -> str:
    lines = [f"# Evaluation of `{r.index}` — {r.table} v{r.version}", ""]
    g = r.golden
    lines += [f"Golden set **{g['name']}** (version `{g['version']}`, {g['queries']} queries).", ""]
    if r.decision is not None:
        verdict = "PASS" if r.decision.passed else "FAIL"
        lines += [f"## Decision: **{verdict}** → {r.action} (gated on `{r.decision.mode}` search)",
                  ""]
        lines += [f"- {reason}" for reason in r.decision.reasons] + [""]
    prod = r.production
    shown = SHOWN + tuple(k for k in DIVERSITY
                          if any(k in m.aggregate for m in r.metrics.values()))
    header = "| mode | " + " | ".join(shown) + " |"
    lines += ["## Metrics", "", header, "|" + "---|" * (len(shown) + 1)]
    for mode, m in r.metrics.items():
        lines.append(f"| {mode} (candidate) | "
                     + " | ".join(f"{m.aggregate.get(k, 0):.4f}" for k in shown) + " |")
        if prod is not None and mode in prod["metrics"]:
            p = prod["metrics"][mode].aggregate
            lines.append(f"| {mode} (production v{prod['version']}) | "
                         + " | ".join(f"{p.get(k, 0):.4f}" for k in shown) + " |")
            lines.append(f"| {mode} Δ | " + " | ".join(
                f"{m.aggregate.get(k, 0) - p.get(k, 0):+.4f}" for k in shown) + " |")
    if any(m.endswith("-vector") for m in r.metrics):
        lines += ["", "`text-vector`, `image-vector`, `fused-vector`: the items' text, image and "
                      "fused vectors searched apart (exact), beside the item vector; not gated."]
    if prod is None and r.action == "already-production":
        lines += ["", "This is the production version itself: no other version to compare with."]
    elif prod is None:
        lines += ["", "No production version to compare with (first run of this index)."]
    lines += _post_step_lines(r)
    lines += interval_lines(r) + segment_lines(r) + warning_lines(r)
    if r.fusion:
        lines += _fusion_lines(r.fusion)
    if r.regressed:
        lines += ["", "## Most regressed queries (nDCG@10)", "",
                  "| query | text | candidate | production | Δ |", "|---|---|---|---|---|"]
        lines += [f"| {q['query']} | {str(q['text'] or '')[:60]} | {q['candidate']:.3f} | "
                  f"{q['production']:.3f} | {q['delta']:+.3f} |" for q in r.regressed]
    return "\n".join(lines) + "\n"


def _fusion_lines(f: dict[str, Any]) -> list[str]:
    """The hybrid fusion chosen on the golden set, its sweep, and its gain over either side."""
    best = max(f["sides"].items(), key=lambda kv: kv[1]["ndcg@10"], default=None)
    lines = ["", f"## Hybrid fusion: `{f['chosen']}` (chosen on this golden set by nDCG@10)", ""]
    if best:
        lines += [f"nDCG@10 {f['sweep'][f['chosen']]['ndcg@10']:.4f} vs {best[0]} alone "
                  f"{best[1]['ndcg@10']:.4f} ({f['gain_ndcg@10']:+.4f}).", ""]
    lines += ["| fusion | nDCG@10 | hit@5 | MRR@10 |", "|---|---|---|---|"]
    lines += [f"| {s} | {m['ndcg@10']:.4f} | {m['hit@5']:.4f} | {m['mrr@10']:.4f} |"
              for s, m in f["sweep"].items()]
    return lines


def _post_step_lines(r: EvalReport) -> list[str]:
    """First stage against its reranked / diversified mode (candidate): nDCG@10, hit@5 and,
    when measured, intra-list diversity."""
    tail = IN_SAMPLE_SUFFIX  # hybrid+rerank@in-sample: against hybrid@in-sample
    pairs = [(m.split("+", 1)[0] + (tail if m.endswith(tail) else ""), m)
             for m in r.metrics if "+" in m]
    pairs = [(a, b) for a, b in pairs if a in r.metrics]
    if not pairs:
        return []
    lines = ["", "## First stage vs post-steps (candidate)", "",
             "| first stage | with | nDCG@10 | hit@5 | ILD@10 |", "|---|---|---|---|---|"]
    for first, post in pairs:
        a, b = r.metrics[first].aggregate, r.metrics[post].aggregate
        ild = (f"{a['ild@10']:.3f} → {b['ild@10']:.3f}" if "ild@10" in a and "ild@10" in b
               else "")
        lines.append(f"| {first} | {post.split('+', 1)[1]} | {a['ndcg@10']:.4f} → "
                     f"{b['ndcg@10']:.4f} ({b['ndcg@10'] - a['ndcg@10']:+.4f}) | "
                     f"{a['hit@5']:.4f} → {b['hit@5']:.4f} | {ild} |")
    return lines
