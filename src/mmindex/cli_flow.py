"""``mmindex embed`` runs the Prefect ``embed`` flow (the same flow the nightly deployment
runs). With no PREFECT_API_URL set, Prefect runs it in-process against a temporary local API
(no server needed); with one set, the run shows in that server's UI.

This module and flows/ + tasks/ are the only code that imports Prefect; the library does not.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from mmindex.config import Settings


def run_embed_flow(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    # the temporary in-process API can take >20 s (Prefect's default) to start on a busy box
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.embed import embed  # noqa: PLC0415 - Prefect is imported only on this path

    return embed(source=args.source, index=args.index, model=settings.model, db=settings.db,
                 token_budget=args.token_budget, dims=args.dims,
                 deletion_policy=args.deletion_policy, golden_queries=args.queries,
                 golden_qrels=args.qrels, run_evaluation=bool(args.queries and args.qrels),
                 format=args.format, fields=args.field)
