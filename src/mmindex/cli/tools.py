"""``mmindex models | config | make-tiny-model | bench``: what is there, and tools around it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mmindex.cli.common import add_common, emit, flags_of, settings_from


def cmd_make_tiny_model(args: argparse.Namespace) -> int:
    from mmindex.errors import require

    for module in ("torch", "transformers"):
        require(module, "make-tiny-model")
    if args.family in ("clip", "siglip"):
        from mmindex.backends.tinytwotower import build_tiny_two_tower

        out = build_tiny_two_tower(Path(args.dir), args.family)
        print(f"built a random-weight {args.family} checkpoint in {out} "
              f"(use it as --model {args.family}:{out})")
        return 0
    from mmindex.backends.tinymodel import build_tiny_model

    out = build_tiny_model(Path(args.dir), shape=args.shape)
    print(f"built a random-weight Qwen3-VL-Embedding ({args.shape}) checkpoint in {out}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from mmindex.backends.availability import weights_status
    from mmindex.backends.catalog import model_rows

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
    from mmindex.backends import RERANKERS

    emit(rows, args.json, human + "\n\nAlso: st:, qwen3-vl:, clip:, siglip:, colpali:, colqwen2:, "
                                  "vlm:ID_OR_PATH, jina:PATH, or a local model directory (see the "
                                  "README's model table).\nRerankers (search --rerank): "
                                  + ", ".join(RERANKERS) + ", qwen3-vl-reranker:PATH.")
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
    t = sub.add_parser("make-tiny-model", help="build a random-weight Qwen3-VL-Embedding offline")
    t.add_argument("dir", help="where to write the checkpoint")
    t.add_argument("--shape", choices=["tiny", "2b"], default="tiny",
                   help="tiny (seconds, tests) or 2b (the real model's compute cost)")
    t.add_argument("--family", choices=["qwen3-vl", "clip", "siglip"], default="qwen3-vl",
                   help="which model family (clip/siglip: the tiny-clip/tiny-siglip twins)")
    t.set_defaults(fn=cmd_make_tiny_model)

    m = sub.add_parser("models", help="the model specs, what each embeds (text/image/video/"
                                      "multi-vector, dims, Matryoshka dims), weights here?")
    m.add_argument("--all", action="store_true", help="include internal test doubles")
    m.add_argument("--json", action="store_true", help="print one JSON object")
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
