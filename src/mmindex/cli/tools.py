"""``mmindex models | config | make-tiny-model | bench``: what is there, and tools around it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mmindex.cli.common import settings_from


def cmd_make_tiny_model(args: argparse.Namespace) -> int:
    from mmindex.backends.tinymodel import build_tiny_model

    out = build_tiny_model(Path(args.dir), shape=args.shape)
    print(f"built a random-weight Qwen3-VL-Embedding ({args.shape}) checkpoint in {out}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from mmindex.backends import ALIASES

    for spec, (backend, model_id) in ALIASES.items():
        print(f"{spec:<24} {backend:<22} {model_id}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from mmindex.cli.configdoc import config_table, effective

    print(config_table() if args.markdown else effective(settings_from(args)))
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
    t.set_defaults(fn=cmd_make_tiny_model)

    m = sub.add_parser("models", help="list the model specs")
    m.set_defaults(fn=cmd_models)

    c = sub.add_parser("config", help="print the effective settings (or the reference table)")
    c.add_argument("--markdown", action="store_true", help="the README's reference table")
    c.add_argument("--db", help="LanceDB URI (default from settings)")
    c.set_defaults(fn=cmd_config)

    b = sub.add_parser("bench", help="run the benchmark suite from the checkout "
                                     "(see docs/performance.md)")
    b.add_argument("--case", action="append", help="run only this case (repeatable)")
    b.add_argument("--quick", action="store_true", help="smaller sizes (~10 min)")
    b.add_argument("--out", default="bench-results", help="where bench.json goes")
    b.set_defaults(fn=cmd_bench)
