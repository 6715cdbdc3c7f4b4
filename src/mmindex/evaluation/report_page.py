"""``mmindex report``: one self-contained HTML page about an index.

- the version history (runs, decisions, production) with the gated metrics of every evaluated
  version as an inline-SVG chart;
- the latest evaluation by segment (query language, length, modality), with 95 % confidence
  intervals: the ones the evaluation recorded when it did (``segments`` in ``_evaluations``),
  else the evaluation's bootstrap (:mod:`mmindex.evaluation.intervals`) over the recorded
  per-query values;
- the worst queries of that evaluation with their top results as thumbnails.

Everything is inline: styles, the chart, images as downscaled ``data:`` URIs. The page opens
from the file alone, offline, and can be mailed or attached to a run.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from typing import Any

import numpy as np

from mmindex.errors import MMIndexError
from mmindex.evaluation.svgchart import line_chart
from mmindex.index import connect, describe_versions, fusion, table_exists
from mmindex.index.querykind import QueryKind

SHOWN = ("ndcg@10", "hit@5", "hit@1", "mrr@10")
CSS = ("body{font:14px sans-serif;margin:24px;color:#222;max-width:1100px}"
       "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;"
       "text-align:left}th{background:#f4f4f4}.prod{font-weight:bold;color:#060}"
       ".q{margin:16px 0;padding:8px;border-left:4px solid #d62728;background:#fafafa}"
       ".rel{outline:3px solid #2ca02c}.note{color:#777}")


def evaluations(db: Any, index: str) -> list[dict[str, Any]]:
    """Every ``_evaluations`` row of ``index``, oldest first."""
    if not table_exists(db, fusion.EVALUATIONS):
        return []
    rows = db.open_table(fusion.EVALUATIONS).to_arrow().to_pylist()
    return sorted((r for r in rows if r.get("index") == index), key=lambda r: r["at"])


def segments(per_query: dict[str, dict[str, float]], kinds: dict[str, QueryKind]
             ) -> dict[str, dict[str, Any]]:
    """Per segment (``all``, ``lang=ko``, ``length=one-word``, ``modality=image``, ...): query
    count, mean metrics and their bootstrap intervals."""
    groups: dict[str, list[str]] = defaultdict(list)
    for q in per_query:
        groups["all"].append(q)
        k = kinds.get(q)
        if k is not None:
            for name in ("lang", "length", "modality"):
                groups[f"{name}={getattr(k, name)}"].append(q)
    from mmindex.evaluation.intervals import bootstrap_intervals

    out = {}
    for label, qs in groups.items():
        metrics = [m for m in SHOWN if all(m in per_query[q] for q in qs)]
        out[label] = {"queries": len(qs),
                      "metrics": {m: float(np.mean([per_query[q][m] for q in qs]))
                                  for m in metrics},
                      # the evaluation's own rule (scipy.stats.bootstrap, seeded); empty
                      # without scipy (the stats extra)
                      "intervals": bootstrap_intervals({q: per_query[q] for q in qs}, metrics)}
    return out


def gather(settings: Any, index: str, golden: Any = None, *, worst: int = 5,
           top: int = 4) -> dict[str, Any]:
    """What the page shows (JSON-able but for the thumbnails' rows)."""
    db = connect(settings, create=False)
    info = describe_versions(db, index)
    evals = evaluations(db, index)
    modes = {r["mode"] for r in evals}
    mode = settings.gate.get("mode", "hybrid")
    mode = mode if mode in modes else (sorted(modes)[0] if modes else mode)
    history: dict[tuple[str, int], dict[str, float]] = {}
    for r in evals:
        if r["mode"] == mode:
            history[(r["table_name"], int(r["version"]))] = json.loads(r["metrics"])
    latest = [r for r in evals if evals and r["eval_id"] == evals[-1]["eval_id"]]
    row = next((r for r in latest if r["mode"] == mode), None)
    out: dict[str, Any] = {"index": index, "info": info, "mode": mode, "history": history,
                           "latest": row, "segments": {}, "worst": []}
    if row is None:
        return out
    per_query = json.loads(row["per_query"])
    recorded = json.loads(row["segments"]) if row.get("segments") else None
    kinds = {q.id: QueryKind.of(q.text, q.image, q.lang) for q in golden.queries} \
        if golden is not None else {}
    out["segments"] = recorded or segments(per_query, kinds)
    out["intervals_from"] = "the evaluation" if recorded else "this report (bootstrap)"
    metric = "ndcg@10" if all("ndcg@10" in v for v in per_query.values()) else SHOWN[-1]
    ranked = sorted(per_query, key=lambda q: (per_query[q].get(metric, 0.0), q))[:worst]
    out["worst"] = [{"query": q, "metrics": per_query[q]} for q in ranked]
    if golden is not None:
        _add_results(out, settings, index, row, golden, top)
    return out


def _add_results(out: dict[str, Any], settings: Any, index: str, row: dict[str, Any],
                 golden: Any, top: int) -> None:
    from mmindex.search import open_index

    idx = open_index(index, version=int(row["version"]), table=row["table_name"],
                     settings=settings)
    by_id = {q.id: q for q in golden.queries}
    for w in out["worst"]:
        q = by_id.get(w["query"])
        if q is None:
            continue
        w["text"], w["image"] = q.text, q.image
        w["relevant"] = sorted(d for d, g in golden.qrels.get(q.id, {}).items() if g > 0)
        try:
            w["results"] = idx.search(q.text, image=q.image, k=top,
                                      mode=out["mode"]).to_dicts()
        except MMIndexError as exc:  # e.g. an image query on a text-only model's index
            w["error"] = str(exc).split(" Help:")[0]


def _fmt(v: Any) -> str:
    return "" if v is None else f"{v:.3f}"


def _history_html(d: dict[str, Any]) -> str:
    info, hist = d["info"], d["history"]
    prod = info["production"] or {}
    rows = []
    for r in info["runs"]:
        m = hist.get((r["table"], r["version"])) if r["version"] is not None else None
        is_prod = (r["table"], r["version"]) == (prod.get("table"), prod.get("version"))
        rows.append(f'<tr class="{"prod" if is_prod else ""}"><td>v{r["version"]}</td>'
                    f'<td>{html.escape(str(r["table"]))}</td><td>{html.escape(str(r["model"]))}'
                    f'</td><td>{r["status"]}</td><td>{r["decision"] or ""}'
                    f'{" (production)" if is_prod else ""}</td><td>{r["embedded"]}</td>'
                    + "".join(f"<td>{_fmt((m or {}).get(k))}</td>" for k in SHOWN) + "</tr>")
    head = ("<tr><th>version</th><th>table</th><th>model</th><th>run</th><th>decision</th>"
            "<th>embedded</th>" + "".join(f"<th>{k}</th>" for k in SHOWN) + "</tr>")
    keys = list(hist)
    chart = (line_chart([f"v{v}" for _, v in keys],
                        {k: [hist[t].get(k) for t in keys] for k in SHOWN})
             if keys else '<p class="note">no evaluation recorded yet: '
                          "`mmindex evaluate` fills this chart.</p>")
    return (f"<h2>Versions</h2><p>Production: {html.escape(str(prod.get('table')))} "
            f"v{prod.get('version')}</p><table>{head}{''.join(rows)}</table>"
            f"<h3>Metrics of each evaluated version ({html.escape(d['mode'])})</h3>{chart}")


def _segments_html(d: dict[str, Any]) -> str:
    row = d["latest"]
    if row is None:
        return "<h2>Latest evaluation</h2><p class='note'>none recorded.</p>"
    head = "<tr><th>segment</th><th>queries</th>" + "".join(
        f"<th>{k} [95% CI]</th>" for k in SHOWN) + "</tr>"
    body = []
    for label, s in d["segments"].items():
        cells = []
        for k in SHOWN:
            v, iv = s["metrics"].get(k), _interval((s.get("intervals") or {}).get(k))
            cells.append(f"<td>{_fmt(v)}" + (f" [{iv[0]:.3f}, {iv[1]:.3f}]" if iv else "")
                         + "</td>")
        body.append(f"<tr><td>{html.escape(label)}</td><td>{s['queries']}</td>"
                    f"{''.join(cells)}</tr>")
    return (f"<h2>Latest evaluation by segment</h2><p>v{row['version']} of "
            f"{html.escape(row['table_name'])}, mode {html.escape(row['mode'])}, golden set "
            f"{html.escape(str(row['golden_name']))} ({row['at']:%Y-%m-%d %H:%M} UTC); "
            f"intervals from {d.get('intervals_from')}.</p><table>{head}{''.join(body)}</table>")


def _interval(iv: Any) -> tuple[float, float] | None:
    """(low, high) from a pair or a mapping with low/high (as an evaluation may record it)."""
    if isinstance(iv, dict):
        lo, hi = iv.get("low", iv.get("lo")), iv.get("high", iv.get("hi"))
        return (lo, hi) if lo is not None and hi is not None else None
    return (iv[0], iv[1]) if isinstance(iv, list | tuple) and len(iv) == 2 else None


def _worst_html(d: dict[str, Any]) -> str:
    from mmindex.search.gallery import STYLE, card, thumbnail_uri

    parts = [f"<h2>Worst queries</h2><style>{STYLE}</style>"]
    for w in d["worst"]:
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in w["metrics"].items() if k in SHOWN)
        query = html.escape(str(w.get("text") or w["query"]))
        pic = ""
        if w.get("image"):
            try:
                pic = f'<img src="{thumbnail_uri(w["image"], 96)}" alt="query image">'
            except Exception:
                pic = "(query image unreadable)"
        cards = "".join(
            card(r).replace('class="mmx-card"', 'class="mmx-card rel"', 1)
            if r["id"] in w.get("relevant", []) else card(r) for r in w.get("results", []))
        rel = ", ".join(html.escape(x) for x in w.get("relevant", []))
        parts.append(f'<div class="q"><b>{html.escape(w["query"])}</b>: {query} {pic}<br>'
                     f'<span class="note">{metrics}; relevant: {rel or "?"} (green)'
                     f'{"; not searched: " + html.escape(w["error"]) if w.get("error") else ""}'
                     '</span>'
                     f'<div class="mmindex-gallery">{cards}</div></div>')
    return "".join(parts)


def render(d: dict[str, Any]) -> str:
    """The page, one HTML string."""
    title = f"mmindex report: {d['index']}"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"{_history_html(d)}{_segments_html(d)}{_worst_html(d)}</body></html>")
