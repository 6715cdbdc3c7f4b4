"""``mmindex embed``: a source into a new version of an index (and, with a golden set, the gate)."""

from __future__ import annotations

import argparse
from typing import Any

from mmindex.cli.common import add_common, emit, settings_from


def cmd_embed(args: argparse.Namespace) -> int:
    s = settings_from(args, token_budget=args.token_budget, deletion_policy=args.deletion_policy)
    if args.no_prefect:
        from mmindex.evaluation.runner import evaluate_index
        from mmindex.pipeline import run_embed

        result = run_embed(args.source, args.index, s, fields=args.field,
                           format=args.format).to_dict()
        if args.queries and args.qrels and result["version"] is not None:
            result["evaluation"] = evaluate_index(
                s, args.index, queries=args.queries, qrels=args.qrels, version=result["version"],
                table=result["table"], promote=True, run_id=result["run_id"]).to_dict()
    else:
        from mmindex.cli.launch import run_embed_flow

        result = run_embed_flow(args, s)
    emit(result, args.json, human_summary(result))
    return 0


def human_summary(result: dict[str, Any]) -> str:
    """The run summary (the same lines as the Prefect artifact), plus the gate's verdict."""
    from mmindex.embed.summary import summary_lines

    first, *rest = summary_lines(result)
    text = "\n".join([first, *(f"  {line}" for line in rest)])
    ev = result.get("evaluation")
    if ev:
        dec = ev.get("decision") or {}
        text += (f"\n  evaluation ({ev['golden']['name']}): {ev['action']} — "
                 + "; ".join(dec.get("reasons", [])))
    return text


def register(sub: Any) -> None:
    e = sub.add_parser("embed", help="embed a source into a new version of an index")
    e.add_argument("source", help="manifest (jsonl/csv/parquet), BEIR corpus.jsonl, local or s3://")
    e.add_argument("--index", required=True, help="index name (letters, digits, . - _)")
    e.add_argument("--format", choices=["jsonl", "csv", "parquet", "beir"],
                   help="manifest format (default: from the file name)")
    e.add_argument("--field", action="append", metavar="KEY=COLUMN",
                   help="field mapping, e.g. --field id=item_id --field text=question,passage")
    e.add_argument("--token-budget", type=int, help="max padded tokens per batch")
    e.add_argument("--deletion-policy", choices=["keep", "delete"],
                   help="items gone from the source: delete their rows, or keep them")
    e.add_argument("--queries", help="golden queries: evaluate the candidate and gate promotion")
    e.add_argument("--qrels", help="golden qrels (with --queries)")
    e.add_argument("--no-prefect", action="store_true",
                   help="call the library directly instead of running the Prefect flow")
    add_common(e, model=True)
    e.set_defaults(fn=cmd_embed)
