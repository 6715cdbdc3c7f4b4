"""The run summary text: the same lines in the terminal (``mmindex embed``) and in the Prefect UI
(the ``embed-summary-<index>`` artifact). It reads an embed result as a dict (its JSON form, which
is what Prefect tasks hand around)."""

from __future__ import annotations

from typing import Any


def reasons_text(reasons: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items())) or "none"


def summary_lines(result: dict[str, Any]) -> list[str]:
    """Counts, the new version and throughput of one embed run, one line each."""
    tp = result["throughput"]
    return [
        f"index {result['index']}: version {result['version']} of table {result['table']} "
        f"({result['rows']} rows)",
        f"seen {result['seen']}, embedded {result['embedded']}, skipped unchanged "
        f"{result['skipped_unchanged']}, reused from staging {result['reused_staged']}, "
        f"quarantined {result['quarantined']} ({reasons_text(result['quarantine_reasons'])})",
        f"inserted {result['inserted']}, updated {result['updated']}, deleted {result['deleted']}"
        f", truncated {result.get('truncated', 0)} (text longer than the model reads)",
        f"{tp['items_per_s']:.2f} items/s, {tp['tokens_per_s']:.0f} tokens/s, batch latency p50 "
        f"{tp['batch_p50_s']:.3f} s / p95 {tp['batch_p95_s']:.3f} s",
        f"preprocessing {tp['preprocess_s']:.1f} s, model {tp['model_s']:.1f} s, read "
        f"{tp['read_s']:.1f} s, write {tp['write_s']:.1f} s, wall {tp['wall_s']:.1f} s, "
        f"peak RSS {tp['peak_rss_mb']:.0f} MiB",
    ] + ([f"OCR: {tp['ocr_images']} images, {tp['ocr_s_per_image']:.3f} s per image "
          f"({tp['ocr_s']:.1f} s in all)"] if tp.get("ocr_images") else []) + (
        [f"OCR skipped for {result['ocr_skipped']} items: the run's ocr_budget_s was spent "
         "(embedded without figure text; the next run reads them first)"]
        if result.get("ocr_skipped") else [])


def summary_markdown(result: dict[str, Any]) -> str:
    """:func:`summary_lines` as the markdown of the run's summary artifact."""
    lines = summary_lines(result)
    return "\n".join([
        f"# Embed run `{result['run_id']}` — index `{result['index']}`", "",
        f"New version: **{result['table']} v{result['version']}** ({result['rows']} rows)", "",
        *(f"- {line}" for line in lines[1:]), "",
        f"Quarantined items are in the `_quarantine` table; `mmindex versions --index "
        f"{result['index']}` lists the runs.", ""])
