"""``mmindex embed``: a source into a new version of an index (and, with a golden set, the gate).

Without a Prefect API configured the library runs the embed directly: the flow's steps (plan,
groups, one commit, evaluation and gate) in this process, no temporary Prefect server. With an
API (``PREFECT_API_URL`` or a Prefect profile), or with ``--prefect``, the ``embed`` flow runs
and shows in the Prefect UI.
"""

from __future__ import annotations

import argparse
from typing import Any

from mmindex.cli.common import (
    EXIT_OK,
    EXIT_REJECTED,
    add_common,
    add_prefect_choice,
    add_progress_choice,
    emit,
    note_settings_file,
    settings_from,
)


def cmd_embed(args: argparse.Namespace) -> int:
    from mmindex.cli.launch import run_embed_flow, wants_flow
    from mmindex.errors import ConfigError
    from mmindex.index import check_index_name

    if bool(args.queries) != bool(args.qrels):
        raise ConfigError("--queries and --qrels go together. Help: a golden set is both files: "
                          "--queries queries.jsonl --qrels qrels.tsv")
    check_index_name(args.index)  # a typo fails before any model loads
    s = settings_from(args, token_budget=args.token_budget, deletion_policy=args.deletion_policy,
                      executor=args.executor, ray_address=args.ray_address)
    if args.ray_address and s.executor != "ray":
        raise ConfigError("--ray-address is for the Ray executor. Help: add --executor ray "
                          "(or set executor = \"ray\" in the settings)")
    note_settings_file()
    if wants_flow(args.prefect):
        result = run_embed_flow(args, s)
    else:
        result = run_library(args, s)
    emit(result, args.json, human_summary(result))
    ev = result.get("evaluation") or {}
    return EXIT_REJECTED if ev.get("action") == "rejected" else EXIT_OK


def run_library(args: argparse.Namespace, s: Any) -> dict[str, Any]:
    """The flow's behaviour without Prefect: embed, then evaluate and gate with a golden set."""
    from mmindex.cli.progress import EmbedBar, wanted
    from mmindex.evaluation.runner import evaluate_index
    from mmindex.pipeline import run_embed

    with EmbedBar(f"embed {args.index}", wanted(args.progress)) as bar:
        result = run_embed(args.source, args.index, s, fields=args.field, format=args.format,
                           progress=bar, **executor_of(s)).to_dict()
    if args.queries and result["version"] is not None:
        result["evaluation"] = evaluate_index(
            s, args.index, queries=args.queries, qrels=args.qrels, version=result["version"],
            table=result["table"], promote=True, run_id=result["run_id"]).to_dict()
    return result


def executor_of(s: Any) -> dict[str, Any]:
    """``run_embed``'s executor for ``s.executor`` (Ray is imported only for ``ray``)."""
    if s.executor != "ray":
        return {}
    from mmindex.cluster import RayExecutor

    return {"executor": RayExecutor(s)}


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
    e = sub.add_parser("embed", help="embed a source into a new version of an index",
                       description="Embed SOURCE into a new version of INDEX; with --queries and "
                                   "--qrels, evaluate it and promote it if the gate passes.")
    e.add_argument("source", help="manifest (jsonl/csv/parquet), BEIR corpus.jsonl, local or s3://")
    e.add_argument("--index", required=True, help="index name (letters, digits, '.', '-', '_')")
    e.add_argument("--format", choices=["jsonl", "csv", "parquet", "beir"],
                   help="manifest format (default: from the file name)")
    e.add_argument("--field", action="append", metavar="KEY=COLUMN",
                   help="field mapping, e.g. --field id=item_id --field text=question,passage")
    e.add_argument("--token-budget", type=int,
                   help="max padded tokens per batch (default: the `token_budget` setting)")
    e.add_argument("--deletion-policy", choices=["keep", "delete"],
                   help="items gone from the source (default: the `deletion_policy` setting)")
    e.add_argument("--queries", help="golden queries: evaluate the candidate and gate promotion")
    e.add_argument("--qrels", help="golden qrels (with --queries)")
    e.add_argument("--executor", choices=["local", "ray"],
                   help="where the groups run: this process, or Ray actors (default: the "
                        "`executor` setting; docs/scale-out.md)")
    e.add_argument("--ray-address", metavar="ADDR",
                   help="Ray cluster to join, e.g. head:6379 or ray://head:10001 (default: the "
                        "`ray_address` setting; none: a local Ray runtime)")
    add_prefect_choice(e, "embed")
    add_progress_choice(e)
    add_common(e, model=True)
    e.set_defaults(fn=cmd_embed)
