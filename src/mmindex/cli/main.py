"""The ``mmindex`` command line. Each subcommand is a thin shell over the library (or the flow).

Imports are deferred to the subcommand that needs them, so ``mmindex --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys

from mmindex.cli import embed, evaluate, read, tools
from mmindex.errors import MMIndexError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mmindex", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for module in (embed, read, evaluate, tools):
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except MMIndexError as exc:
        print(f"mmindex: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
