"""The command line, ``mmindex``: one module per group of subcommands, each a thin shell over the
library. :mod:`~mmindex.cli.launch` is the one module that starts what lives beside the library
in the checkout (the Prefect flow, the benchmarks)."""

from __future__ import annotations

from mmindex.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
