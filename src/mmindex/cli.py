"""The ``mmindex`` command line. Each subcommand is a thin shell over the library (or the flow).

Imports are deferred to the subcommand that needs them, so ``mmindex --help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mmindex.errors import MMIndexError


def _settings(args: argparse.Namespace, **extra: Any):
    from mmindex.config import Settings

    return Settings().with_overrides(db=getattr(args, "db", None),
                                     model=getattr(args, "model", None),
                                     device=getattr(args, "device", None),
                                     dims=getattr(args, "dims", None), **extra)


def _print(obj: Any, as_json: bool, human: str) -> None:
    print(json.dumps(obj, indent=2, default=str, ensure_ascii=False) if as_json else human)


def cmd_embed(args: argparse.Namespace) -> int:
    s = _settings(args, token_budget=args.token_budget, deletion_policy=args.deletion_policy)
    if args.no_prefect:
        from mmindex.pipeline import run_embed
        result = run_embed(args.source, args.index, s, fields=args.field,
                           format=args.format).to_dict()
        if args.queries and args.qrels and result["version"] is not None:
            from mmindex.evaluation.runner import evaluate_index

            result["evaluation"] = evaluate_index(
                s, args.index, queries=args.queries, qrels=args.qrels, version=result["version"],
                table=result["table"], promote=True, run_id=result["run_id"]).to_dict()
    else:
        from mmindex.cli_flow import run_embed_flow

        result = run_embed_flow(args, s)
    tp = result["throughput"]
    human = (
        f"index {args.index}: version {result['version']} of table {result['table']}\n"
        f"  seen {result['seen']}, embedded {result['embedded']}, "
        f"skipped unchanged {result['skipped_unchanged']}, reused staged {result['reused_staged']}, "
        f"quarantined {result['quarantined']} {result['quarantine_reasons'] or ''}\n"
        f"  inserted {result['inserted']}, updated {result['updated']}, deleted {result['deleted']}, "
        f"rows {result['rows']}\n"
        f"  {tp['items_per_s']:.1f} items/s, {tp['tokens_per_s']:.0f} tokens/s, batch p50 "
        f"{tp['batch_p50_s']:.3f}s p95 {tp['batch_p95_s']:.3f}s, preprocess {tp['preprocess_s']:.1f}s"
        f" model {tp['model_s']:.1f}s, wall {tp['wall_s']:.1f}s, peak RSS {tp['peak_rss_mb']:.0f} MiB"
    )
    if "evaluation" in result and result["evaluation"]:
        ev = result["evaluation"]
        dec = ev.get("decision") or {}
        human += (f"\n  evaluation ({ev['golden']['name']}): {ev['action']} — "
                  + "; ".join(dec.get("reasons", [])))
    _print(result, args.json, human)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from mmindex.search import open_index

    s = _settings(args)
    idx = open_index(args.index, s.db, version=args.version)
    df = idx.search(args.text, image=args.image, k=args.k, mode=args.mode)
    rows = [
        {"rank": i + 1, "id": r["id"], "score": round(float(r["score"]), 6), "text": r["text"],
         "images": r["images"], "video": r["video"]}
        for i, r in enumerate(df.iter_rows(named=True))
    ]
    human = f"{idx.name} (table {idx.table_name} v{idx.version}, {args.mode}):\n" + "\n".join(
        f"{r['rank']:>3}. {r['score']:.4f}  {r['id']}  {(r['text'] or '')[:80]}" for r in rows)
    _print({"index": idx.name, "version": idx.version, "mode": args.mode, "results": rows},
           args.json, human)
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    from mmindex.versions import describe_versions

    info = describe_versions(_settings(args).db, args.index)
    human_lines = [f"index {args.index}: production = "
                   + (f"{info['production']['table']} v{info['production']['version']}"
                      if info["production"] else "none")]
    for r in info["runs"]:
        human_lines.append(
            f"  v{r['version']}  {r['status']:<10} {r['table']}  run {r['run_id']}  "
            f"embedded {r['embedded']} quarantined {r['quarantined']}  {r['decision'] or ''}")
    _print(info, args.json, "\n".join(human_lines))
    return 0


def cmd_make_tiny_model(args: argparse.Namespace) -> int:
    from mmindex.tinymodel import build_tiny_model

    out = build_tiny_model(Path(args.dir), shape=args.shape)
    print(f"built a random-weight Qwen3-VL-Embedding ({args.shape}) checkpoint in {out}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from mmindex.backends import ALIASES

    for spec, (backend, model_id) in ALIASES.items():
        print(f"{spec:<24} {backend:<22} {model_id}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from mmindex.configdoc import config_table, effective

    print(config_table() if args.markdown else effective(_settings(args)))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from mmindex.bench import run_bench

    run_bench(args.case or None, Path(args.out), quick=args.quick)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mmindex", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, model: bool = False) -> None:
        sp.add_argument("--db", help="LanceDB URI (default from settings: .mmindex/db)")
        sp.add_argument("--json", action="store_true", help="print one JSON object")
        if model:
            sp.add_argument("--model", help="model spec (see `mmindex models`)")
            sp.add_argument("--device", help="auto | cpu | cuda")
            sp.add_argument("--dims", type=int, help="Matryoshka dims to keep")

    e = sub.add_parser("embed", help="embed a source into a new version of an index")
    e.add_argument("source", help="manifest (jsonl/csv/parquet), BEIR corpus.jsonl, local or s3://")
    e.add_argument("--index", required=True)
    e.add_argument("--format", choices=["jsonl", "csv", "parquet", "beir"])
    e.add_argument("--field", action="append", metavar="KEY=COLUMN",
                   help="field mapping, e.g. --field id=item_id --field text=question,passage")
    e.add_argument("--token-budget", type=int)
    e.add_argument("--deletion-policy", choices=["keep", "delete"])
    e.add_argument("--queries", help="golden queries: evaluate the candidate and gate promotion")
    e.add_argument("--qrels", help="golden qrels (with --queries)")
    e.add_argument("--no-prefect", action="store_true",
                   help="call the library directly instead of running the Prefect flow")
    common(e, model=True)
    e.set_defaults(fn=cmd_embed)

    s = sub.add_parser("search", help="search an index (production unless --version)")
    s.add_argument("text", nargs="?")
    s.add_argument("--index", required=True)
    s.add_argument("--image", help="image query (path)")
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--mode", default="vector", choices=["vector", "ann", "fts", "hybrid"])
    s.add_argument("--version", type=int, help="read this version instead of production")
    common(s)
    s.set_defaults(fn=cmd_search)

    v = sub.add_parser("versions", help="versions, runs and the production pointer of an index")
    v.add_argument("--index", required=True)
    common(v)
    v.set_defaults(fn=cmd_versions)

    t = sub.add_parser("make-tiny-model", help="build a random-weight Qwen3-VL-Embedding offline")
    t.add_argument("dir")
    t.add_argument("--shape", choices=["tiny", "2b"], default="tiny")
    t.set_defaults(fn=cmd_make_tiny_model)

    m = sub.add_parser("models", help="list the model specs")
    m.set_defaults(fn=cmd_models)

    c = sub.add_parser("config", help="print the effective settings (or the reference table)")
    c.add_argument("--markdown", action="store_true", help="the README's reference table")
    c.add_argument("--db")
    c.set_defaults(fn=cmd_config)

    b = sub.add_parser("bench", help="run the benchmark suite (see docs/performance.md)")
    b.add_argument("--case", action="append", help="run only this case (repeatable)")
    b.add_argument("--quick", action="store_true", help="smaller sizes (~10 min)")
    b.add_argument("--out", default="bench-results", help="where bench.json goes")
    b.set_defaults(fn=cmd_bench)

    from mmindex.cli_eval import add_eval_commands

    add_eval_commands(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except MMIndexError as exc:
        print(f"mmindex: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
