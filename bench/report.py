"""The bench's summary table: a few headline rows per case, with targets and verdicts."""

from __future__ import annotations

from typing import Any

Row = tuple[str, str, str, str, str]  # case, metric, value, target, verdict


def _ok(flag: bool | None) -> str:
    return "" if flag is None else ("ok" if flag else "MISSED")


def _f(x: Any, nd: int = 3) -> str:
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def _efficiency(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for variant in ("minilm", "qwen_mid"):
        v = r.get(variant, {})
        if "skipped" in v or "error" in v:
            rows.append(("efficiency", variant, v.get("skipped") or v["error"], "", ""))
            continue
        e, b = v["end_to_end"], v["bare_model"]
        rows += [
            ("efficiency", f"{variant}: efficiency (wall)", _f(v["efficiency"]),
             f">= {v['target']}", _ok(v["meets_target"])),
            ("efficiency", f"{variant}: efficiency pooled / CPU time",
             f"{v['efficiency_pooled']:.3f} / {v['cpu_efficiency']:.3f}", "", ""),
            ("efficiency", f"{variant}: machine speed change during it",
             f"{100 * v['speed_change']:.0f}%", "", ""),
            ("efficiency", f"{variant}: items/s end-to-end / bare",
             f"{e['items_per_s']:.2f} / {b['best_items_per_s']:.2f} (passes "
             f"{', '.join(f'{p:.1f}' for p in b['passes'])})", "", ""),
        ]
        if variant == "qwen_mid":
            o = v["overlap"]
            rows.append(("efficiency", "qwen_mid: preprocess / model / wall s",
                         f"{o['preprocess_s']:.1f} / {o['model_s']:.1f} / {o['wall_s']:.1f}",
                         "", ""))
            one = v.get("one_model_thread")
            if one:
                o1, e1, b1 = one["overlap"], one["end_to_end"], one["bare_model"]
                rows += [
                    ("efficiency", "qwen_mid, model on 1 core: efficiency (wall)",
                     _f(one["efficiency"]), f">= {one['target']}", _ok(one["meets_target"])),
                    ("efficiency", "qwen_mid, model on 1 core: items/s e2e / bare; prep/model/wall",
                     f"{e1['items_per_s']:.2f} / {b1['best_items_per_s']:.2f}; "
                     f"{o1['preprocess_s']:.1f} / {o1['model_s']:.1f} / {o1['wall_s']:.1f} s",
                     "", "")]
    return rows


def _vs_st(r: dict[str, Any]) -> list[Row]:
    st = r["sentence_transformers"]
    return [("vs_sentence_transformers", "ours / encode (faster pass) items/s",
             f"{r['ours']['items_per_s']:.2f} / {max(st['passes']):.2f} = {r['ratio']:.3f}",
             f">= {r['target']}", _ok(r["meets_target"])),
            ("vs_sentence_transformers", "encode passes; pooled ratio; speed change",
             f"{st['passes'][0]:.1f}, {st['passes'][1]:.1f}; {r['ratio_pooled']:.3f}; "
             f"{100 * r['speed_change']:.0f}%", "", "")]


def _memory(r: dict[str, Any]) -> list[Row]:
    rows = []
    for k, p in enumerate([r, *r.get("others", [])]):
        a, b = p["small"], p["large"]
        target = (f"< {100 * p['target']:.0f}%", _ok(p["meets_target"])) if k == 0 else ("", "")
        value = (f"{a['peak_rss_mb']:.0f} vs {b['peak_rss_mb']:.0f} (+{100 * p['growth']:.1f}%, "
                 f"{b['peak_rss_mb'] - a['peak_rss_mb']:+.0f} MiB)")
        rows.append(("memory", f"{p['model']}: peak RSS {a['n']} vs {b['n']} items (MiB)", value,
                     *target))
    return rows


def _second_night(r: dict[str, Any]) -> list[Row]:
    n = r["n"]
    return [
        ("second_night", f"re-run unchanged / first, wall (N={n})",
         f"{r['rerun_unchanged']['wall_s']:.1f} / {r['first']['wall_s']:.1f} s = "
         f"{r['rerun_ratio']:.3f}", f"< {r['target']}", _ok(r["meets_target"])),
        ("second_night", f"1% changed ({r['changed_items']} items) / first, wall",
         f"{r['rerun_1pct_changed']['wall_s']:.1f} s = {r['changed_ratio']:.3f}", "~0.01", ""),
    ]


def _orchestration(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for x in r["sizes"]:
        judged = x["docs"] == r["docs"]
        rows.append(("orchestration", f"flow (warm) vs direct (faster of 2), {x['docs']} docs",
                     f"{x['flow_warm_s']:.1f} vs {min(x['direct_s']):.1f} s = "
                     f"{100 * x['overhead']:+.1f}% ({x['fixed_s']:+.2f} s)",
                     f"< {100 * r['target']:.0f}%" if judged else "",
                     _ok(r["meets_target"]) if judged else ""))
    rows.append(("orchestration", f"flow (cold: ephemeral API start), {r['cold_docs']} docs",
                 f"{r['flow_cold_s']:.1f} s = {100 * r['cold_overhead']:+.1f}%", "", ""))
    return rows


def _search(r: dict[str, Any]) -> list[Row]:
    d, best, ex = r["lancedb_defaults"], r["recommended"], r["exact"]
    m = r.get("mmindex_ann", d)
    return [
        ("search", f"IVF_PQ build ({r['rows']}x{r['dims']}, {r['index']['num_partitions']} parts)",
         f"{r['index']['build_s']:.1f} s", "", ""),
        ("search", "exact: p50/p95 ms", f"{ex['p50_ms']:.1f} / {ex['p95_ms']:.1f}", "", ""),
        ("search", "lancedb defaults: recall@10, p50/p95 ms",
         f"{d['recall@10']:.3f}, {d['p50_ms']:.1f} / {d['p95_ms']:.1f}", "", ""),
        ("search", f"mmindex ann (nprobes={m['nprobes']} refine={m['refine_factor']}): recall, "
         "p50/p95 ms", f"{m['recall@10']:.3f}, {m['p50_ms']:.1f} / {m['p95_ms']:.1f}",
         f">= {r['target_recall']}", _ok(m["recall@10"] >= r["target_recall"])),
        ("search", f"nprobes={best['nprobes']} refine={best['refine_factor']}: recall, p50/p95",
         f"{best['recall@10']:.3f}, {best['p50_ms']:.1f} / {best['p95_ms']:.1f}",
         f">= {r['target_recall']}", _ok(best["recall@10"] >= r["target_recall"])),
    ]


def _gpu(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    ctx = r.get("cpu_context")
    src = ctx if ctx else r
    label = "cpu context (2b, fp32)" if ctx else "2b bf16"
    for w in ("text", "image", "video"):
        if w in src:
            x = src[w]
            peak = x.get("max_memory_allocated_mb")
            mem = f", {peak:.0f} MiB" if peak is not None else ""
            util = x.get("gpu_util_mean_pct")
            mem += f", util {util:.0f}%" if util is not None else ""
            rows.append(("gpu", f"{label}: {w} items/s (model)", f"{x['items_per_s']:.2f}{mem}",
                         "" if ctx else "> 3.9 (POC)", "" if ctx else _ok(x["items_per_s"] > 3.9)))
            e2e = x.get("end_to_end")
            if e2e:
                u = e2e.get("gpu_util_mean_pct")
                value = f"{e2e['items_per_s']:.2f}" + (f", util {u:.0f}%" if u is not None else "")
                rows.append(("gpu", f"{label}: {w} items/s (end to end)", value, "> 3.9 (POC)",
                             _ok(e2e["items_per_s"] > 3.9)))
    return rows


def _scaleout(r: dict[str, Any]) -> list[Row]:
    lo, r1, r2 = r["local"], r["ray_1node"], r["ray_2node"]
    return [
        ("scaleout", f"local / Ray 1 node / 2 nodes, items/s ({r['items']} items)",
         f"{lo['items_per_s']:.1f} / {r1['items_per_s']:.1f} / {r2['items_per_s']:.1f}", "", ""),
        ("scaleout", "Ray 1 node / local; 2 nodes / local", f"{r['ray1_vs_local']:.2f}; "
         f"{r['ray2_vs_local']:.2f}", "", "2 vCPUs shared"),
        ("scaleout", "Ray 2 nodes / 1 node", f"{r['ray2_vs_ray1']:.2f}", "", "2 vCPUs shared"),
        ("scaleout", "Ray 1 node / local with 1 torch thread (like an actor)",
         f"{r['ray1_vs_local_1thread']:.2f}", "", ""),
        ("scaleout", "actors' start (model load), 1 / 2 nodes",
         f"{r1['start_s']:.1f} / {r2['start_s']:.1f} s", "", ""),
    ]


def _scale(r: dict[str, Any]) -> list[Row]:
    rows = [("scale", f"group_items={p['group_items']}: us/row at {p['small']['n']:,} / "
             f"{p['large']['n']:,} rows (ratio)", f"{p['small']['s_per_row_us']:.1f} / "
             f"{p['large']['s_per_row_us']:.1f} ({p['ratio']:.2f}; CPU {p['cpu_ratio']:.2f})",
             f"<= {p['target']}",
             _ok(p["meets_target"])) for p in r["pairs"]]
    s3 = r["s3"]
    off = s3.get("without_spool")
    rows.append(("scale", f"S3 bytes read by the groups / the whole run, x manifest "
                 f"({s3['n']:,} rows, {s3['groups']} groups)",
                 f"{s3['groups_vs_manifest']:.2f} / {s3['run_vs_manifest']:.2f}"
                 + (f" (no spool: {off['groups_vs_manifest']:.2f} / "
                    f"{off['run_vs_manifest']:.2f})" if off else ""),
                 f"<= {s3['target']} (whole run)", _ok(s3["meets_target"])))
    return rows


def _search_modes(r: dict[str, Any]) -> list[Row]:
    return [("search_modes", f"{m['mode']}: nDCG@10 / hit@5 / ILD@10, ms per query",
             f"{m['ndcg@10']:.3f} / {m['hit@5']:.3f} / {m['ild@10']:.3f}, "
             f"{m['ms_per_query']:.1f}", "", "") for m in r["modes"]]


def _cold_search(r: dict[str, Any]) -> list[Row]:
    rows = [("cold_search", f"mmindex search {lang} ({r['queries'][lang]!r}): median (min-max) s",
             f"{w['median']:.2f} ({w['min']:.2f}-{w['max']:.2f})", f"< {r['targets_s'][lang]}",
             _ok(w["median"] < r["targets_s"][lang])) for lang, w in r["wall_s"].items()]
    load = r["load_average_1m"]
    rows += [("cold_search", f"mmindex search {lang}: CPU s (user+sys, median)", f"{c:.2f}", "",
              "") for lang, c in r.get("cpu_s", {}).items()]
    return rows + [("cold_search", "load average 1m before / after",
                    f"{load['before']} / {load['after']}", "", "")]


_CASES = {"scaleout": _scaleout, "efficiency": _efficiency, "vs_sentence_transformers": _vs_st,
          "memory": _memory, "cold_search": _cold_search,
          "second_night": _second_night, "orchestration": _orchestration, "search": _search,
          "gpu": _gpu, "search_modes": _search_modes, "scale": _scale}


def summary_rows(case: str, result: dict[str, Any]) -> list[Row]:
    """Headline rows of one case's result (skips and errors become one row)."""
    if "error" in result:
        return [(case, "error", result["error"][-70:], "", "ERROR")]
    rows = []
    if "skipped" in result:
        rows.append((case, "skipped", result["skipped"], "", ""))
    try:
        rows += _CASES[case](result) if "skipped" not in result or case == "gpu" else []
    except (KeyError, TypeError) as e:  # a partial result: show what is there, never crash
        rows.append((case, "incomplete result", repr(e), "", ""))
    return rows


def format_table(rows: list[Row]) -> str:
    head: Row = ("case", "metric", "value", "target", "")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(tuple("-" * w for w in widths)), *map(line, rows)])
