"""``mmindex search`` and ``mmindex versions``: reading an index."""

from __future__ import annotations

import argparse
from typing import Any

from mmindex.cli.common import add_common, emit, int_in, settings_from
from mmindex.search.modes import MODE_CHOICES, PART_MODES, default_mode

RERANK_TOP_ALONE = ("--rerank-top N sets how many first-stage results the reranker sees. "
                    "Help: add --rerank [MODEL].")


def cmd_search(args: argparse.Namespace) -> int:
    from mmindex.errors import ConfigError
    from mmindex.search import open_index
    from mmindex.search.pipeline import Pipeline
    from mmindex.search.results import json_row

    if args.rerank_top is not None and not args.rerank and "+rerank" not in (args.mode or ""):
        raise ConfigError(RERANK_TOP_ALONE)  # before opening anything
    if args.column:  # --column vector_fused is --mode fused-vector
        args.mode = {c: m for m, c in PART_MODES.items()}.get(args.column, "vector")
    from mmindex.search.querycheck import check_query

    settings = settings_from(args)
    check_query(args.text, args.image, k=args.k, rerank_top=args.rerank_top, settings=settings)
    from mmindex.index.analysis import prefetch
    from mmindex.search import prefetch as vector_prefetch

    args.mode = args.mode or default_mode(settings)  # the gate's (settings), hybrid by default
    base = args.mode.split("+")[0]
    # a Korean query: Kiwi loads in a child meanwhile (cold start)
    kiwi = base in ("fts", "hybrid") and prefetch(args.text, settings.search_prefetch)
    text_vector = args.image is None and base not in ("fts", "multivector")
    # the model of the index's last search embeds the query in a child meanwhile (not beside
    # Kiwi's: Kiwi's 1.4 s is the longer path, a third process only competes)
    pre = vector_prefetch.start(settings, args.index, args.text) if text_vector and not kiwi \
        else None
    idx = open_index(args.index, version=args.version, settings=settings)
    vector = pre.vector(idx) if pre else None
    # no DataFrame here: the CLI prints the pipeline's hits (polars stays unimported)
    pipe = Pipeline.plan(idx, args.mode, k=args.k, rerank=args.rerank,
                         rerank_top=args.rerank_top, diversify=args.diversify, where=args.where)
    if args.rerank_top is not None and not pipe.rerank:
        raise ConfigError(RERANK_TOP_ALONE)
    hits, hit_rows = pipe.query(args.text, args.image, vector)
    if text_vector and vector is None and settings.search_prefetch != "never":
        vector_prefetch.remember(settings, args.index, idx)  # for the next cold search
    staged = bool(pipe.rerank or pipe.diversify)
    rows = []
    for i, h in enumerate(hits):
        found = hit_rows.get(h.id, {})
        row = {"rank": i + 1, "id": h.id, "score": round(float(h.score), 6),
               **json_row({c: found.get(c) for c in pipe.shown})}
        if staged:
            row |= {"first_score": round(float(h.first_score), 6),
                    "rerank_score": (None if h.rerank_score is None
                                     else round(float(h.rerank_score), 6)),
                    "rerank_error": h.rerank_error, "cluster": h.cluster}
        rows.append(row)
    reranker = pipe.rerank
    steps = (f", reranked by {reranker} (top {pipe.rerank_top})" if reranker else "") + \
        (", diversified" if pipe.diversify and "+diversify" not in args.mode else "")
    where = f", where {args.where}" if args.where else ""
    human = f"{idx.name} (table {idx.table_name} v{idx.version}, {args.mode}{steps}{where}):\n"
    if reranker:
        human += "     rerank  first   id\n"
    human += "\n".join(_line(r, bool(reranker)) for r in rows)
    emit({"index": idx.name, "version": idx.version, "mode": args.mode, "rerank": reranker,
          "diversify": pipe.diversify, "where": args.where, "results": rows}, args.json, human)
    return 0


def _shown(row: dict[str, Any]) -> str:
    """A hit's text, or for an image-only item the text OCR found in its figure, marked."""
    if row["text"] or not row.get("ocr_text"):
        return row["text"] or ""
    return "[ocr] " + " ".join(row["ocr_text"].split())


def _line(r: dict[str, Any], reranked: bool) -> str:
    text = _shown(r)[:70]
    if not reranked:
        return f"{r['rank']:>3}. {r['score']:.4f}  {r['id']}  {text}"
    rr = "    -   " if r["rerank_score"] is None else f"{r['rerank_score']:.4f}"
    note = f"  [not reranked: {r['rerank_error']}]" if r["rerank_error"] else ""
    return f"{r['rank']:>3}. {rr}  {r['first_score']:.4f}  {r['id']}  {text}{note}"


def cmd_versions(args: argparse.Namespace) -> int:
    from mmindex.index import connect, describe_versions

    settings = settings_from(args)
    info = describe_versions(connect(settings), args.index)
    emit(info, args.json, versions_text(info, settings.timezone))
    return 0


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 < 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def local_time(at: Any, timezone: str) -> str:
    """``2026-12-07 02:00`` in ``timezone`` (the schedule's), or ``-``."""
    if at is None:
        return "-"
    from zoneinfo import ZoneInfo

    return f"{at.astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M}"


def versions_text(info: dict[str, Any], timezone: str) -> str:
    """One row per version, grouped by table; production and rollbacks marked."""
    prod = info["production"]
    lines = [f"index {info['index']}: production = "
             + (f"{prod['table']} v{prod['version']} ({prod['action']} by {prod['actor']}, "
                f"{local_time(prod['at'], timezone)})" if prod else "none")]
    head = (f"  {'version':<11} {'state':<15} {'run':<12}  {'started (' + timezone + ')':<22}"
            f"{'embedded':>9} {'quarantined':>12} {'rows':>7}  history")
    for table in dict.fromkeys(r["table"] for r in info["versions"]):
        lines += ["", f"table {table or '(none: the run committed nothing)'}", head]
        for r in (r for r in info["versions"] if r["table"] == table):
            version = "-" if r["version"] is None else (
                f"v{r['version']}" + (f" ({ordinal(r['nth'])})" if r["nth"] else ""))
            marker = "*" if r["state"] == "production" else " "
            history = "; ".join(r["events"]) or (f"error: {r['error']}" if r["error"] else "")
            if r["runs"] > 1:
                history = f"{r['runs']} runs; " + history
            lines.append(
                f"{marker} {version:<11} {r['state']:<15} {r['run_id'] or '-':<12}  "
                f"{local_time(r['started_at'], timezone):<22}{_n(r['embedded']):>9} "
                f"{_n(r['quarantined']):>12} {_n(r['rows']):>7}  {history}".rstrip())
    lines += ["", "vN is LanceDB's version number: it counts every commit to the table (its "
                  "creation, index builds, merges), so a table's first run is rarely v1; "
                  "(1st), (2nd): the table's committed runs."]
    return "\n".join(lines)


def _n(value: Any) -> str:
    return "-" if value is None else str(value)


def register(sub: Any) -> None:
    s = sub.add_parser("search", help="search an index (production unless --version)")
    s.add_argument("text", nargs="?", help="query text")
    s.add_argument("--index", required=True, help="index name")
    s.add_argument("--image", help="image query (path)")
    s.add_argument("-k", type=int_in(1, 100_000), default=10,
                   help="results to return")
    s.add_argument("--mode", choices=MODE_CHOICES, metavar="MODE",
                   help="vector, ann, fts, hybrid, multivector (MaxSim of a ColPali/ColQwen2 "
                        "index), text-vector, image-vector or fused-vector (the part columns), "
                        "optionally +rerank and/or +diversify (default: the gate's mode, "
                        "gate.mode in the settings: hybrid with the version's fusion)")
    s.add_argument("--where", metavar="SQL",
                   help="LanceDB SQL filter applied before the ranking (every mode), e.g. "
                        "\"id LIKE 'animals/%%'\"; all k results match it")
    s.add_argument("--column", choices=["vector", *PART_MODES.values()],
                   help="exact vector search over this column (same as the matching --mode)")
    s.add_argument("--version", type=int_in(0, 2**62),
                   help="read this version instead of production")
    s.add_argument("--rerank", nargs="?", const=True, default=None, metavar="MODEL",
                   help="rerank the first stage's top results with Qwen3-VL-Reranker (MODEL: "
                        "e.g. qwen3-vl-reranker-2b in the HF cache, or tiny-qwen3-vl-reranker, "
                        "its offline random-weight twin; bare: the rerank_model setting)")
    s.add_argument("--rerank-top", type=int_in(1, 100_000), metavar="N",
                   help="first-stage results to rerank (default: the rerank_top setting)")
    s.add_argument("--diversify", action="store_true",
                   help="interleave k-means clusters (by image vector) of the top results")
    add_common(s)
    s.set_defaults(fn=cmd_search)

    v = sub.add_parser("versions", help="one row per version of an index: production, "
                                        "rollbacks, rejections, runs")
    v.add_argument("--index", required=True, help="index name")
    add_common(v)
    v.set_defaults(fn=cmd_versions)
