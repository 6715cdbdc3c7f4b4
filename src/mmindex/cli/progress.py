"""The terminal progress bar of ``mmindex embed`` and ``mmindex evaluate`` (rich, on stderr).

Shown when stderr is a terminal (or with ``--progress``); never mixed into ``--json`` output on
stdout. The library calls the callback from its model thread after every batch; rich redraws
from its own thread, so a slow terminal never slows the embedding.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


class EmbedBar:
    """``progress`` callback for :func:`mmindex.pipeline.run_embed`: items, items/s, ETA,
    quarantined."""

    def __init__(self, label: str, enabled: bool):
        self.enabled, self.label = enabled, label
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> EmbedBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TextColumn("ETA"), TimeRemainingColumn(),
                TextColumn("{task.fields[detail]}"),
                console=Console(stderr=True), transient=False, refresh_per_second=4)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=None, rate="", detail="")
        return self

    def __call__(self, p: Any) -> None:
        """Take a :class:`mmindex.embed.Progress` snapshot (done, total, counts)."""
        if self._bar is None:
            return
        task = self._bar.tasks[0]
        rate = f"{task.speed:.1f} items/s" if task.speed else ""
        self._bar.update(self._task, completed=p.done, total=p.total, rate=rate,
                         detail=f"embedded {p.embedded}, unchanged {p.skipped}, "
                                f"quarantined {p.quarantined}")

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()


class EvalBar(EmbedBar):
    """``progress`` callback for :func:`mmindex.evaluation.runner.evaluate_index`: golden-set
    searches done of all (every mode; production too when there is one)."""

    def __call__(self, done: int, total: int) -> None:  # type: ignore[override]
        if self._bar is None:
            return
        task = self._bar.tasks[0]
        rate = f"{task.speed:.1f} searches/s" if task.speed else ""
        self._bar.update(self._task, completed=done, total=total, rate=rate, detail="")


def wanted(flag: bool | None) -> bool:
    """``--progress`` / ``--no-progress``, else on when stderr is a terminal."""
    if flag is not None:
        return flag
    return sys.stderr.isatty()
