"""Flow run names an operator can read in the UI's run list.

``embed-<index>-<YYYYMMDD-HHMM>``: the scheduled start in the schedule's timezone (the setting
``timezone``), so the 02:00 Asia/Seoul nightly is ``…-0200`` of its own day, not ``…-1700`` of the
day before in UTC. ``evaluate-<index>-<model>-d<dims>-v<version>``: two tables of one index (two
models, or two sizes of one) evaluated the same night were both ``evaluate-sample-v4``.

Prefect 3.8.8 names a run when it is created only where the creator passes a name
(``prefect deployment run --flow-run-name``, ``client.create_flow_run(name=...)``): the server's
scheduler and the engine's subflow call create runs with a random slug, and the engine renames
them from these callables before the run enters Running (so every log line from "Beginning flow
run" on, and the run list once the run starts, carry these names).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def embed_run_name(index: str, scheduled: datetime, timezone: str) -> str:
    """``embed-<index>-<YYYYMMDD-HHMM>``, the scheduled start in ``timezone`` (IANA name)."""
    return f"embed-{index}-{scheduled.astimezone(ZoneInfo(timezone)):%Y%m%d-%H%M}"


def evaluate_run_name(index: str, table: str | None, version: int | None) -> str:
    """``evaluate-<index>-<model>-d<dims>-v<version>`` from the table's name
    (``<index>__<model>__d<dims>``); without a table, ``evaluate-<index>-v<version>``, or
    ``evaluate-<index>-production`` when no version was given (the on-demand default)."""
    parts = (table or "").split("__")
    which = f"-{parts[1]}-{parts[2]}" if len(parts) == 3 else ""
    return f"evaluate-{index}{which}-" + (f"v{version}" if version is not None else "production")
