"""``mmindex evaluate | promote | rollback | maintain``: the evaluation gate from the shell."""

from __future__ import annotations

import argparse
from typing import Any

from mmindex.cli.common import (
    EXIT_OK,
    EXIT_REJECTED,
    add_common,
    add_progress_choice,
    days,
    emit,
    int_in,
    int_list,
    note_settings_file,
    settings_from,
)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mmindex.evaluation.runner import evaluate_index

    s = settings_from(args)
    note_settings_file()  # the gate policy comes from the settings
    from mmindex.cli.progress import EvalBar, wanted

    with EvalBar(f"evaluate {args.index}", wanted(args.progress)) as bar:
        report = evaluate_index(s, args.index, queries=args.queries, qrels=args.qrels,
                                version=args.version, modes=[args.mode] if args.mode else None,
                                gate=not args.no_gate, promote=args.promote,
                                dims=args.dims_sweep, progress=bar, rerank=args.rerank,
                                diversify=args.diversify)
    emit(report.to_dict(per_query=True), args.json, report.to_markdown())
    rejected = report.decision is not None and not report.decision.passed
    return EXIT_REJECTED if rejected else EXIT_OK


def cmd_promote(args: argparse.Namespace) -> int:
    from mmindex.index import connect, promote
    from mmindex.search import resolve

    db = connect(settings_from(args))
    table, version = resolve(db, args.index, args.version, args.table)
    ev = promote(db, args.index, table, version, actor="manual", reason=args.reason)
    emit(ev, args.json, f"index {args.index}: production is now {table} v{version}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from mmindex.index import connect, rollback

    db = connect(settings_from(args))
    ev = rollback(db, args.index, version=args.version, table=args.table, reason=args.reason)
    emit(ev, args.json,
         f"index {args.index}: production rolled back to {ev['table_name']} v{ev['version']}")
    return 0


def cmd_maintain(args: argparse.Namespace) -> int:
    from mmindex.cli.ops import maintain_text
    from mmindex.index import connect, maintain

    out = maintain(connect(settings_from(args)), args.index, older_than_days=args.older_than_days)
    emit(out, args.json, maintain_text(out, args.index, args.older_than_days))
    return 0


def register(sub: Any) -> None:
    e = sub.add_parser("evaluate", help="evaluate a version on a golden set (and gate it)",
                       description="Evaluate a version of INDEX on a golden set and ask the "
                                   "gate; exit status 1 when the gate rejects it. Prints each "
                                   "metric with its 95% confidence interval and by segment "
                                   "(language, length, modality, the golden set's own); "
                                   "--json adds every query's values.")
    e.add_argument("--index", required=True, help="index name")
    e.add_argument("--version", type=int_in(0, 2**62),
                   help="version to evaluate (default: production; on an index with none yet, "
                        "its newest candidate)")
    e.add_argument("--queries", required=True, help="queries.jsonl (BEIR, text and/or image)")
    e.add_argument("--qrels", required=True, help="qrels TSV (BEIR) or TREC qrels")
    from mmindex.search.modes import MODE_CHOICES

    e.add_argument("--mode", choices=MODE_CHOICES, metavar="MODE",
                   help="one search mode: vector, ann, fts, hybrid, multivector, text-vector, "
                        "image-vector or fused-vector, optionally +rerank and/or +diversify "
                        "(default: vector, fts and hybrid; the part vector modes are added "
                        "whenever the table has those columns)")
    e.add_argument("--rerank", metavar="MODEL",
                   help="also score each mode reranked by this Qwen3-VL-Reranker (e.g. "
                        "tiny-qwen3-vl-reranker), side by side with its first stage")
    e.add_argument("--diversify", action="store_true",
                   help="also score each mode diversified, and report diversity (ILD@10)")
    e.add_argument("--dims-sweep", metavar="D1,D2,...", type=int_list,
                   help="also report exact search at these Matryoshka dims, side by side")
    e.add_argument("--no-gate", action="store_true", help="metrics only, no gate decision")
    e.add_argument("--promote", action="store_true",
                   help="apply the gate decision: promote on pass, mark rejected on fail")
    add_progress_choice(e)
    add_common(e)
    e.set_defaults(fn=cmd_evaluate)

    for name, fn, helptext in (("promote", cmd_promote, "make a version production (manual)"),
                               ("rollback", cmd_rollback, "point production back (manual)")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--index", required=True, help="index name")
        p.add_argument("--version", type=int_in(0, 2**62), required=name == "promote",
                       help="target version" + (" (default: the previous production)"
                                                if name == "rollback" else ""))
        p.add_argument("--table", help="the table holding --version, when ambiguous")
        p.add_argument("--reason", required=True, help="why (recorded in the registry)")
        add_common(p)
        p.set_defaults(fn=fn)

    m = sub.add_parser("maintain", help="compact and clean up old versions (never tagged ones)")
    m.add_argument("--index", required=True, help="index name")
    m.add_argument("--older-than-days", type=days, default=7.0,
                   help="remove untagged versions older than this (default 7)")
    add_common(m)
    m.set_defaults(fn=cmd_maintain)
