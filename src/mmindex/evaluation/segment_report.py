"""The report's confidence intervals, per-segment figures and warnings, in markdown.

Sections of :func:`mmindex.evaluation.report.render_markdown` (what ``mmindex evaluate`` prints
and the ``evaluation-report-<index>`` artifact shows): intervals of the candidate's metrics, the
gated mode by segment (with production's figure on the same queries), nDCG@10 of every mode by
segment, and warnings (small segments, languages of the index the golden set barely covers).
"""

from __future__ import annotations

from typing import Any

from mmindex.evaluation import intervals as ci
from mmindex.evaluation.segments import MIN_SEGMENT_QUERIES

# ``r`` below is an EvalReport (evaluation.report imports this module, not the other way)
EvalReport = Any

INTERVAL_SHOWN = ("hit@1", "hit@5", "mrr@10", "ndcg@10")
SEGMENT_SHOWN = ("ndcg@10", "hit@5", "hit@1")


def interval_lines(r: EvalReport) -> list[str]:
    """The candidate's 95 % intervals of the headline metrics, one row per mode."""
    if not r.metrics:
        return []
    n = r.golden.get("queries") or 0
    how = ci.describe(n)
    lines = ["", f"## Confidence intervals ({how['level']:.0%}, bootstrap over the queries: "
                 f"{how['method']}, {how['n_resamples']:,} resamples, seed {how['seed']})", "",
             "| mode | " + " | ".join(INTERVAL_SHOWN) + " |",
             "|" + "---|" * (len(INTERVAL_SHOWN) + 1)]
    for mode, m in r.metrics.items():
        iv = r.intervals(mode)
        lines.append(f"| {mode} | " + " | ".join(
            _with_interval(m.aggregate.get(k), iv.get(k)) for k in INTERVAL_SHOWN) + " |")
    return lines


def segment_lines(r: EvalReport) -> list[str]:
    """The gated (else first) mode by segment, then nDCG@10 of each mode by segment."""
    if not r.segments or not r.metrics:
        return []
    mode = r.decision.mode if r.decision is not None else next(iter(r.metrics))
    segs = r.by_segment(mode)
    has_prod = any("production" in s for s in segs.values())
    head = ["segment", "queries", *(f"{k} [95% CI]" for k in SEGMENT_SHOWN)]
    head += ["Δ nDCG@10 vs production"] if has_prod else []
    lines = ["", f"## By segment: `{mode}`", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for label, s in segs.items():
        row = [_cell(label) + (" ⚠" if s["small"] else ""), str(s["queries"])]
        row += [_with_interval(s["metrics"].get(k), s["intervals"].get(k)) for k in SEGMENT_SHOWN]
        if has_prod:
            p = s.get("production", {}).get("ndcg@10")
            row.append("" if p is None else f"{s['metrics']['ndcg@10'] - p:+.4f}")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"⚠ fewer than {MIN_SEGMENT_QUERIES} queries: too few to compare "
                  "(docs/evaluation.md)."]
    modes = [m for m in r.metrics if "@" not in m]  # not the Matryoshka dims sweep
    if len(modes) > 1:
        lines += ["", "nDCG@10 by segment and mode:", "",
                  "| segment | queries | " + " | ".join(modes) + " |",
                  "|" + "---|" * (len(modes) + 2)]
        table = {m: r.by_segment(m) for m in modes}
        for label, s in segs.items():
            cells = [f"{table[m][label]['metrics']['ndcg@10']:.4f}" if label in table[m] else ""
                     for m in modes]
            lines.append(f"| {_cell(label)} | {s['queries']} | " + " | ".join(cells) + " |")
    return lines


def warning_lines(r: EvalReport) -> list[str]:
    warnings = r.all_warnings()
    return ["", "## Warnings", "", *(f"- {w}" for w in warnings)] if warnings else []


def _cell(text: str) -> str:
    """A golden set's own segment may hold any text: keep it inside its table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _with_interval(value: float | None, interval: tuple[float, float] | None) -> str:
    if value is None:
        return ""
    if interval is None:
        return f"{value:.4f}"
    return f"{value:.4f} [{interval[0]:.3f}, {interval[1]:.3f}]"
