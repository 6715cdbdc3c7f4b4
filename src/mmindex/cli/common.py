"""What every subcommand shares: settings from the command line, and printing a result."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mmindex.config import Settings


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    """The settings (file, environment) with the command line's options applied on top."""
    return Settings().with_overrides(db=getattr(args, "db", None),
                                     model=getattr(args, "model", None),
                                     device=getattr(args, "device", None),
                                     dims=getattr(args, "dims", None), **extra)


def emit(obj: Any, as_json: bool, human: str) -> None:
    """Print ``obj`` as one JSON object (``--json``), else the ``human`` text."""
    print(json.dumps(obj, indent=2, default=str, ensure_ascii=False) if as_json else human)


def add_common(sp: argparse.ArgumentParser, model: bool = False) -> None:
    """``--db`` and ``--json`` (and the model options) of a subcommand."""
    sp.add_argument("--db", help="LanceDB URI (default from settings: .mmindex/db)")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    if model:
        sp.add_argument("--model", help="model spec (see `mmindex models`)")
        sp.add_argument("--device", help="auto | cpu | cuda")
        sp.add_argument("--dims", type=int, help="Matryoshka dims to keep")
