"""What every subcommand shares: settings from the command line, printing a result, and the
parser's look (defaults shown, errors as one line plus a Help line, exit status 2)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, NoReturn

from mmindex.config import Settings, load_settings

EXIT_OK, EXIT_REJECTED, EXIT_ERROR = 0, 1, 2


def flags_of(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """The settings a command line sets (None: not given)."""
    return {"db": getattr(args, "db", None), "model": getattr(args, "model", None),
            "device": getattr(args, "device", None), "dims": getattr(args, "dims", None),
            **extra}


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    """The settings (file, environment) with the command line's options applied on top."""
    return load_settings(**flags_of(args, **extra))


def emit(obj: Any, as_json: bool, human: str) -> None:
    """Print ``obj`` as one JSON object (``--json``), else the ``human`` text."""
    print(json.dumps(obj, indent=2, default=str, ensure_ascii=False) if as_json else human)


def note_settings_file() -> None:
    """Say on stderr which settings file is in force (it depends on the working directory)."""
    from mmindex.config import config_file

    path = config_file()
    where = (f"settings from {path.resolve()}" if path.is_file() else
             f"no settings file ({path} not found): built-in defaults and MMINDEX_* variables")
    print(f"mmindex: {where}", file=sys.stderr)


def fail(message: str, help_text: str) -> int:
    """Print ``mmindex: error: MESSAGE`` and ``Help: HELP`` to stderr (secrets masked); the
    error exit status."""
    from mmindex.errors import redact

    print(redact(f"mmindex: error: {message}\nHelp: {help_text}"), file=sys.stderr)
    return EXIT_ERROR


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds ``(default: X)`` only where it tells something: not when the help already names
    its default (it printed "(default 10) (default: 10)"), nor for a required option, a flag or
    an option without a default (it printed "(default: None)")."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if ("default" in text or action.required or action.default in (None, False, [])
                or action.default is argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse with the defaults in the help and usage errors in the house format."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        sys.exit(fail(message, f"`{self.prog} --help` shows the usage."))


def add_common(sp: argparse.ArgumentParser, model: bool = False) -> None:
    """``--db`` and ``--json`` (and the model options) of a subcommand."""
    sp.add_argument("--db", help="LanceDB URI (default: the `db` setting)")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    if model:
        sp.add_argument("--model", help="model spec, see `mmindex models` (default: the `model` "
                                        "setting)")
        sp.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: the `device` "
                                         "setting)")
        sp.add_argument("--dims", type=int,
                        help="Matryoshka dims to keep (default: the model's full size)")


def add_prefect_choice(sp: argparse.ArgumentParser, flow: str) -> None:
    """``--prefect`` / ``--no-prefect``: run the Prefect flow ``flow`` or the library (default:
    the flow when a Prefect API is configured)."""
    how = sp.add_mutually_exclusive_group()
    how.add_argument("--prefect", dest="prefect", action="store_true", default=None,
                     help=f"run the Prefect `{flow}` flow (default when a Prefect API is "
                          "configured)")
    how.add_argument("--no-prefect", dest="prefect", action="store_false",
                     help="run the library directly (default without a Prefect API)")


def add_progress_choice(sp: argparse.ArgumentParser) -> None:
    """``--progress`` / ``--no-progress`` (default: a bar when stderr is a terminal)."""
    bar = sp.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show a progress bar on stderr (default: when it is a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false",
                     help="no progress bar")


def int_in(lo: int, hi: int = 2**31 - 1) -> Any:
    """An argparse ``type``: an integer in ``[lo, hi]`` (``-k 2**63``, ``--version -1`` are
    usage errors, not tracebacks)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text} is not between {lo} and {hi:,}")
        return value
    parse.__name__ = "integer"
    return parse


def days(text: str) -> float:
    """An argparse ``type``: a finite number of days >= 0 (``nan``, ``inf`` are refused)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a finite number of days >= 0")
    return value


def int_list(text: str) -> list[int]:
    """``128,256`` -> [128, 256] (an argparse ``type``: a bad list is a usage error)."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") \
            from None
