"""The mmindex command line: embed sources into versioned LanceDB indexes, evaluate, promote,
search. Each subcommand is a thin shell over the library (or the Prefect flow).

Exit status: 0 done; 1 the evaluation gate rejected the candidate; 2 an error (the message's
last line says what to do). Imports are deferred to the subcommand that needs them, so
``mmindex --help`` is instant.
"""

from __future__ import annotations

import os
import sys

from mmindex.cli import compare, embed, evaluate, ops, read, report, tools
from mmindex.cli.common import EXIT_OK, Parser, fail
from mmindex.errors import MMIndexError


def build_parser() -> Parser:
    from importlib.metadata import version

    p = Parser(prog="mmindex", description=__doc__.split("\n\n")[0].replace("\n", " "),
               epilog="Exit status: 0 done, 1 gate rejected, 2 error.")
    p.add_argument("--version", action="version", version=f"mmindex {version('mmindex')}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           parser_class=Parser)
    for module in (embed, read, evaluate, compare, tools, ops, report):
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.fn(args)
        sys.stdout.flush()  # inside the try: a reader that left (`| head`) is not an error
        return status
    except MMIndexError as exc:
        message, _, help_text = str(exc).partition("Help:")
        return fail(f"{type(exc).__name__}: {' '.join(message.split())}",
                    " ".join(help_text.split()) or f"`mmindex {args.command} --help`.")
    except BrokenPipeError:  # `mmindex config | head`: the reader left; nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return fail("interrupted", "run the command again; a re-run resumes from staged rows.")
