"""What the command line starts from the mmindex checkout: the Prefect ``embed`` flow
(``mmindex embed``) and the benchmark suite (``mmindex bench``).

Both live beside the library, not in it (``flows/``, ``tasks/``, ``bench/`` at the top of the
checkout): the installed package carries no flow and no benchmark, and this is the only module of
the library that imports them or Prefect (ruff's banned-api rule holds everything else to that).
They are found in the working directory or in the source tree of an editable install.

With no ``PREFECT_API_URL`` set, Prefect runs the flow in-process against a temporary local API
(no server needed); with one set, the run shows in that server's UI.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mmindex.config import Settings
from mmindex.errors import ConfigError, installed, require


def checkout_root() -> Path:
    """The checkout holding ``flows/``, ``tasks/`` and ``bench/`` (put on ``sys.path``).

    Raises:
        ConfigError: neither the working directory nor the source tree of this mmindex is one.
    """
    candidates = [Path.cwd(), Path(__file__).resolve().parents[3]]
    for root in candidates:
        if (root / "flows" / "embed.py").is_file() and (root / "tasks").is_dir():
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            return root
    raise ConfigError(
        "the Prefect flows and the benchmarks live in the mmindex checkout (flows/, tasks/, "
        f"bench/), and none was found (looked in {', '.join(map(str, candidates))}). Help: run "
        "from the checkout, or add --no-prefect to run the library without the flow."
    )


def run_embed_flow(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Run the ``embed`` flow (what ``prefect deployment run embed/nightly`` runs)."""
    require("prefect", "the Prefect embed flow (--prefect)", ConfigError)
    checkout_root()
    from prefect.settings import (
        PREFECT_SERVER_ANALYTICS_ENABLED,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    from flows.embed import embed
    from tasks.outcome import result_of

    # the temporary in-process API can take >20 s (Prefect's default) to start on a busy box
    with temporary_settings({PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 120,
                             PREFECT_SERVER_ANALYTICS_ENABLED: False}):
        # a rejected candidate ends the run Failed, named Rejected: its result is still the
        # run's (the exit status says "rejected"); any other failure raises as before
        return result_of(embed(
            source=args.source, index=args.index, model=settings.model, db=settings.db,
            token_budget=args.token_budget, dims=args.dims, deletion_policy=args.deletion_policy,
            golden_queries=args.queries, golden_qrels=args.qrels,
            run_evaluation=bool(args.queries and args.qrels), format=args.format,
            fields=args.field, executor=args.executor, ray_address=args.ray_address,
            return_state=True))


def run_benchmarks(cases: list[str] | None, out: Path, quick: bool) -> None:
    """Run the benchmark suite (``bench/``; see docs/performance.md)."""
    checkout_root()
    from bench import run_bench

    run_bench(cases, out, quick=quick)


def wants_flow(choice: bool | None) -> bool:
    """``--prefect`` (True) / ``--no-prefect`` (False), else the flow exactly when Prefect has an
    API to report to (``PREFECT_API_URL`` or the active profile): without one a flow would start
    a temporary local server first. Without Prefect installed (its extra), the library."""
    if choice is not None:
        return choice
    if not installed("prefect"):
        return False
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)


def run_compare_flow(args: argparse.Namespace, settings: Settings, models: list[str]) -> Any:
    """Run the ``compare`` flow; its report (also a Prefect table artifact)."""
    require("prefect", "the Prefect compare flow (--prefect)", ConfigError)
    checkout_root()
    from flows.compare import compare
    from mmindex.compare import CompareReport

    return CompareReport.from_dict(compare(
        source=args.source, models=models, queries=args.queries, qrels=args.qrels,
        index=args.index, db=args.db, format=args.format, fields=args.field))
