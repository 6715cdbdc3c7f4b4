"""``mmindex models | config | make-tiny-model | bench``: what is there, and tools around it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mmindex.cli.common import add_common, emit, flags_of, settings_from


def cmd_make_tiny_model(args: argparse.Namespace) -> int:
    from mmindex.backends.family import families
    from mmindex.errors import require

    for module in ("torch", "transformers"):
        require(module, "make-tiny-model")
    if args.like:
        return _make_like(args)
    if args.hf_cache:
        from mmindex.errors import ConfigError

        raise ConfigError("--hf-cache places a --like build. Help: add --like HUB_ID")
    twins = {n: f for n, f in families().items() if f.twin is not None}
    fam = twins.get(args.family)
    if fam is None:
        from mmindex.errors import ConfigError

        raise ConfigError(f"--family {args.family}: no offline twin. Help: one of "
                          f"{', '.join(sorted(twins))}")
    options = {"shape": args.shape} if args.shape != "tiny" else {}
    if options and args.family != "qwen3-vl":
        from mmindex.errors import ConfigError

        raise ConfigError("--shape 2b is the Qwen3-VL twin's only. Help: drop --shape")
    out = fam.twin(Path(args.dir), **options)
    prefix = fam.prefixes[0] if fam.prefixes else fam.name
    print(f"built a random-weight {fam.name} checkpoint ({args.shape}) in {out} "
          f"(use it as --model {prefix}:{out}, or the folder itself)")
    return 0


def _make_like(args: argparse.Namespace) -> int:
    from mmindex.backends.routing import resolve
    from mmindex.backends.twins.like import build_like
    from mmindex.errors import ConfigError

    if args.shape != "tiny":
        raise ConfigError("--shape goes with --family qwen3-vl, not --like. Help: drop --shape")
    out = build_like(args.like, Path(args.dir), hf_cache=args.hf_cache)
    route = resolve(args.like)
    where = (f"the Hugging Face cache {args.dir} (use it as HF_HUB_CACHE={args.dir} "
             f"HF_HUB_OFFLINE=1 mmindex ... --model {args.like})" if args.hf_cache
             else f"{out} (use it as --model {out}, or place it with --hf-cache)")
    print(f"built a random-weight look-alike of {args.like} ({route.family}) in {where}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from mmindex.backends.availability import weights_status
    from mmindex.backends.catalog import model_rows
    from mmindex.backends.family import families

    if args.resolve:
        return _resolve(args)
    rows = [dict(r, weights=weights_status(r["spec"])) for r in model_rows()
            if r["backend"] != "hash" or args.all]  # the hash test double is internal
    width = max(len(r["spec"]) for r in rows)

    def line(r: dict) -> str:
        dims = "?" if r["full_dims"] is None else str(r["full_dims"])
        mrl = ",".join(map(str, r["matryoshka"] or ())) or "-"
        return (f"{r['spec']:<{width}}  {r['family']:<12} {'/'.join(r['supports']):<24} "
                f"{dims:>5}  {mrl:<26} {r['weights']}")

    head = (f"{'spec':<{width}}  {'family':<12} {'supports':<24} {'dims':>5}  "
            f"{'matryoshka dims':<26} weights")
    human = "\n".join([head] + [line(r) for r in rows])
    fams = families().values()
    prefixes = ", ".join(f"{p}:" for f in fams if f.kind == "embedder" for p in f.prefixes)
    rerankers = [m.spec for f in fams if f.kind == "reranker" for m in f.models]
    rprefixes = [f"{p}:PATH" for f in fams if f.kind == "reranker" for p in f.prefixes]
    emit(rows, args.json, human + f"\n\nAlso: {prefixes} with ID_OR_PATH, a checkpoint folder, "
                                  "or a hub id (`mmindex models --resolve SPEC` says where it "
                                  "routes).\nRerankers (search --rerank): "
                                  + ", ".join(rerankers + rprefixes) + ".")
    return 0


def _resolve(args: argparse.Namespace) -> int:
    from mmindex.backends.routing import resolve

    r = resolve(args.resolve).as_dict()
    emit(r, args.json, "\n".join(f"{k:<9} {v}" for k, v in r.items() if v))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from mmindex.cli.configdoc import config_table, effective, effective_text
    from mmindex.config import value_sources

    if args.markdown:
        print(config_table())
        return 0
    info = effective(settings_from(args), value_sources(flags_of(args)))
    emit(info, args.json, effective_text(info))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from mmindex.cli.launch import run_benchmarks

    run_benchmarks(args.case or None, Path(args.out), quick=args.quick)
    return 0


def register(sub: Any) -> None:
    t = sub.add_parser("make-tiny-model", help="build a family's random-weight twin offline")
    t.add_argument("dir", help="where to write the checkpoint")
    t.add_argument("--shape", choices=["tiny", "2b"], default="tiny",
                   help="tiny (seconds, tests) or 2b (Qwen3-VL only: the real compute cost)")
    t.add_argument("--family", default="qwen3-vl",
                   help="the family whose twin to build (those with one: `mmindex models`)")
    t.add_argument("--like", metavar="HUB_ID",
                   help="build one with this hub repository's layout (file names, config.json, "
                        "processor/tokenizer files, modules.json) at toy sizes, not --family's")
    t.add_argument("--hf-cache", action="store_true",
                   help="with --like: DIR is a Hugging Face hub cache (HF_HUB_CACHE); place it "
                        "there as models--ORG--NAME/snapshots/REV (+ refs/main)")
    t.set_defaults(fn=cmd_make_tiny_model)

    m = sub.add_parser("models", help="the model specs, what each embeds (text/image/video/"
                                      "multi-vector, dims, Matryoshka dims), weights here?")
    m.add_argument("--all", action="store_true", help="include internal test doubles")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.add_argument("--resolve", metavar="SPEC",
                   help="where SPEC routes (family, kind, model id, recipe) and why")
    m.set_defaults(fn=cmd_models)

    c = sub.add_parser("config", help="the settings in force and where each comes from",
                       description="Print every setting, its value and its source (flag, "
                                   "environment, settings file or default).")
    c.add_argument("--markdown", action="store_true",
                   help="print the reference table of all settings instead (the README's)")
    add_common(c)
    c.set_defaults(fn=cmd_config)

    b = sub.add_parser("bench", help="run the benchmark suite from the checkout "
                                     "(see docs/performance.md)")
    b.add_argument("--case", action="append", help="run only this case (repeatable)")
    b.add_argument("--quick", action="store_true", help="smaller sizes (~10 min)")
    b.add_argument("--out", default="bench-results", help="where bench.json goes")
    b.set_defaults(fn=cmd_bench)
