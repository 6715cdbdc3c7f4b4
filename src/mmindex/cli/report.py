"""``mmindex report``: one self-contained HTML page about an index (versions, metrics over
versions, the latest evaluation by segment, the worst queries with their results as pictures)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mmindex.cli.common import add_common, emit, settings_from


def cmd_report(args: argparse.Namespace) -> int:
    from mmindex.errors import GoldenSetError
    from mmindex.evaluation.golden import load_golden
    from mmindex.evaluation.report_page import gather, render

    s = settings_from(args)
    queries, qrels = args.queries or s.golden_queries, args.qrels or s.golden_qrels
    try:
        golden = load_golden(queries, qrels)
    except GoldenSetError:  # the page still has the history, the segments by query id only
        golden = None
    page = render(gather(s, args.index, golden, worst=args.worst, top=args.top))
    out = Path(args.out)
    out.write_text(page, encoding="utf-8")
    note = "" if golden else f" (golden set {queries} not readable: no query texts or results)"
    emit({"index": args.index, "out": str(out.resolve()), "bytes": len(page.encode())},
         args.json, f"wrote {out} ({len(page.encode()) / 1024:.0f} KiB){note}")
    return 0


def register(sub: Any) -> None:
    r = sub.add_parser("report", help="write one self-contained HTML page about an index")
    r.add_argument("--index", required=True, help="index name")
    r.add_argument("--out", default="report.html", help="the page to write (default report.html)")
    r.add_argument("--queries", help="golden queries (default: the golden_queries setting)")
    r.add_argument("--qrels", help="golden qrels (default: the golden_qrels setting)")
    r.add_argument("--worst", type=int, default=5, help="worst queries shown (default 5)")
    r.add_argument("--top", type=int, default=4, help="results per worst query (default 4)")
    add_common(r)
    r.set_defaults(fn=cmd_report)
