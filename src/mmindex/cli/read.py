"""``mmindex search`` and ``mmindex versions``: reading an index."""

from __future__ import annotations

import argparse
from typing import Any

from mmindex.cli.common import add_common, emit, int_in, settings_from


def cmd_search(args: argparse.Namespace) -> int:
    from mmindex.errors import ConfigError
    from mmindex.search import PART_MODES, open_index

    if args.rerank_top is not None and not args.rerank:
        raise ConfigError("--rerank-top N sets how many first-stage results the reranker sees. "
                          "Help: add --rerank [MODEL].")
    from mmindex.search.querycheck import check_query

    if args.column:  # --column vector_fused is --mode fused-vector
        args.mode = {c: m for m, c in PART_MODES.items()}.get(args.column, "vector")
    settings = settings_from(args)
    check_query(args.text, args.image, k=args.k, rerank_top=args.rerank_top, settings=settings)
    idx = open_index(args.index, version=args.version, settings=settings)
    df = idx.search(args.text, image=args.image, k=args.k, mode=args.mode, rerank=args.rerank,
                    rerank_top=args.rerank_top, diversify=args.diversify)
    staged = "_first_score" in df.columns
    rows = []
    for i, r in enumerate(df.iter_rows(named=True)):
        row = {"rank": i + 1, "id": r["id"], "score": round(float(r["score"]), 6),
               "text": r["text"], "images": r["images"], "video": r["video"],
               "ocr_text": r.get("ocr_text")}
        if staged:
            row |= {"first_score": round(float(r["_first_score"]), 6),
                    "rerank_score": (None if r["_rerank_score"] is None
                                     else round(float(r["_rerank_score"]), 6)),
                    "rerank_error": r["_rerank_error"], "cluster": r["_cluster"]}
        rows.append(row)
    reranker = None
    if args.rerank:
        reranker = idx.rerank_model if args.rerank is True else args.rerank
    steps = (f", reranked by {reranker} (top {args.rerank_top or idx.rerank_top})"
             if reranker else "") + (", diversified" if args.diversify else "")
    human = f"{idx.name} (table {idx.table_name} v{idx.version}, {args.mode}{steps}):\n"
    if reranker:
        human += "     rerank  first   id\n"
    human += "\n".join(_line(r, bool(reranker)) for r in rows)
    emit({"index": idx.name, "version": idx.version, "mode": args.mode, "rerank": reranker,
          "diversify": args.diversify, "results": rows}, args.json, human)
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
                   help="results to return (default 10)")
    s.add_argument("--mode", default="vector",
                   choices=["vector", "ann", "fts", "hybrid", "multivector", "text-vector",
                            "image-vector", "fused-vector"],
                   help="multivector: MaxSim of a ColPali/ColQwen2 index; *-vector: the "
                        "part columns")
    s.add_argument("--column", choices=["vector", "vector_text", "vector_image", "vector_fused"],
                   help="exact vector search over this column (same as the matching --mode)")
    s.add_argument("--version", type=int_in(0, 2**62),
                   help="read this version instead of production")
    s.add_argument("--rerank", nargs="?", const=True, default=None, metavar="MODEL",
                   help="rerank the first stage's top results with Qwen3-VL-Reranker (MODEL: "
                        "e.g. tiny-qwen3-vl-reranker; default the rerank_model setting)")
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
