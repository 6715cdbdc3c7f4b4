"""State hooks of the ``embed`` flow: a crashed run is marked as such in ``_runs``.

A run whose process is killed (SIGKILL, OOM killer, a reboot) never reaches its ``except``; its
``_runs`` row stayed ``running`` forever. Prefect calls ``on_crashed`` when it learns the run
crashed (the worker reports its process's exit), and the next run of the index marks any row
still ``running`` as crashed at its start as well (:func:`mmindex.index.ledger.close_stale_runs`),
for the cases no hook sees.
"""

from __future__ import annotations

from typing import Any

from mmindex.pipeline import end_run
from tasks.settings import run_settings


def mark_crashed(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_crashed`` hook: record the run as crashed, with Prefect's message."""
    params = flow_run.parameters or {}
    settings = run_settings(db=params.get("db"))
    index = params.get("index") or settings.nightly_index
    end_run(settings, index, flow_run.id.hex[:12], "crashed",
            f"crashed: {getattr(state, 'message', '') or state.type.value}")
