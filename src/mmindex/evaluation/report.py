"""The evaluation report as markdown: metrics per mode, deltas vs production, the most
regressed queries and the decision (shown on the evaluate flow run and by ``mmindex evaluate``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmindex.evaluation.runner import EvalReport

SHOWN = ("hit@1", "hit@5", "hit@10", "recall@10", "recall@100", "mrr@10", "ndcg@10", "map")


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
    header = "| mode | " + " | ".join(SHOWN) + " |"
    lines += ["## Metrics", "", header, "|" + "---|" * (len(SHOWN) + 1)]
    for mode, m in r.metrics.items():
        lines.append(f"| {mode} (candidate) | "
                     + " | ".join(f"{m.aggregate.get(k, 0):.4f}" for k in SHOWN) + " |")
        if prod is not None and mode in prod["metrics"]:
            p = prod["metrics"][mode].aggregate
            lines.append(f"| {mode} (production v{prod['version']}) | "
                         + " | ".join(f"{p.get(k, 0):.4f}" for k in SHOWN) + " |")
            lines.append(f"| {mode} Δ | " + " | ".join(
                f"{m.aggregate.get(k, 0) - p.get(k, 0):+.4f}" for k in SHOWN) + " |")
    if prod is None:
        lines += ["", "No production version to compare with (first run of this index)."]
    if r.regressed:
        lines += ["", "## Most regressed queries (nDCG@10)", "",
                  "| query | text | candidate | production | Δ |", "|---|---|---|---|---|"]
        lines += [f"| {q['query']} | {str(q['text'] or '')[:60]} | {q['candidate']:.3f} | "
                  f"{q['production']:.3f} | {q['delta']:+.3f} |" for q in r.regressed]
    return "\n".join(lines) + "\n"
