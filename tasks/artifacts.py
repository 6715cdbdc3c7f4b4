"""What the Prefect UI shows: a progress artifact updated as batches complete, a throughput
table, and a markdown summary of the run and its new version.

Artifact keys (stable, documented in the README): ``embed-progress-<index>``,
``embed-throughput-<index>``, ``embed-summary-<index>``, ``evaluation-report-<index>``.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from mmindex.embed import Progress, summary_markdown
from tasks.outcome import decision_markdown, key_metrics, reason, rejected


def artifact_key(kind: str, index: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return f"{kind}-" + re.sub(r"[^a-z0-9-]+", "-", index.lower()).strip("-")


def start_progress(index: str) -> str:
    return str(create_progress_artifact(0.0, key=artifact_key("embed-progress", index),
                                        description=f"Items processed in this run of {index}"))


class ProgressReporter:
    """A ``progress`` callback for the library that never blocks the thread running the model.

    The library calls it from the model's thread after every batch; it only keeps the latest
    :class:`Progress`. A daemon thread (started on the first call, in a copy of the task's
    context so Prefect's client finds the run) posts it every ``every_s`` when it changed, and
    once more on :meth:`close`. A slow or unreachable API therefore delays the progress bar,
    never the embedding; a failed post is logged and skipped (progress is best-effort).
    """

    def __init__(self, artifact_id: str | None, every_s: float = 2.0,
                 post: Callable[[UUID, Progress], None] | None = None):
        self.artifact_id = UUID(artifact_id) if artifact_id else None
        self.every_s = every_s
        self._post = post or post_progress
        self._latest: Progress | None = None
        self._posted: Progress | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._context = contextvars.copy_context()

    def __call__(self, p: Progress) -> None:
        if self.artifact_id is None or not p.total:
            return
        with self._lock:
            self._latest = p
            if self._thread is None:
                self._thread = threading.Thread(target=self._context.run, args=(self._loop,),
                                                name="mmindex-progress", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self._flush()
        self._flush()  # the state at close

    def _flush(self) -> None:
        with self._lock:
            p = self._latest
        if p is None or p is self._posted or self.artifact_id is None:
            return
        try:
            self._post(self.artifact_id, p)
        except Exception as exc:  # noqa: BLE001  (never fail a run over a progress bar)
            logging.getLogger(__name__).warning("progress update failed: %s", exc)
        self._posted = p

    def close(self) -> None:
        """Post the last state and stop the thread (call when the group is done)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def post_progress(artifact_id: UUID, p: Progress) -> None:
    update_progress_artifact(
        artifact_id, min(100.0, 100.0 * p.done / p.total) if p.total else 0.0,
        description=f"{p.done}/{p.total} items: {p.embedded} embedded, {p.skipped} unchanged, "
                    f"{p.quarantined} quarantined")


def finish_progress(artifact_id: str, result: dict[str, Any]) -> None:
    update_progress_artifact(UUID(artifact_id), 100.0,
                             description=f"done: {result['embedded']} embedded, "
                                         f"{result['skipped_unchanged']} unchanged, "
                                         f"{result['quarantined']} quarantined")


THROUGHPUT_ROWS = (
    ("items/s", "items_per_s"), ("tokens/s", "tokens_per_s"), ("batch p50 (s)", "batch_p50_s"),
    ("batch p95 (s)", "batch_p95_s"), ("preprocessing (s)", "preprocess_s"),
    ("model (s)", "model_s"), ("read + hash (s)", "read_s"), ("write (s)", "write_s"),
    ("wall (s)", "wall_s"), ("batches", "batches"), ("peak RSS (MiB)", "peak_rss_mb"),
    ("peak GPU (MiB)", "peak_gpu_mb"), ("GPU utilisation, mean (%)", "gpu_util_mean_pct"),
    ("GPU memory used, max (MiB)", "gpu_mem_used_max_mb"), ("OCR images", "ocr_images"),
    ("OCR s per image", "ocr_s_per_image"),
)


def publish_throughput(index: str, result: dict[str, Any]) -> None:
    """The throughput table of one embed run."""
    tp = result["throughput"]
    rows = [{"metric": label, "value": "n/a (no GPU sampled)" if tp.get(key) is None else tp[key]}
            for label, key in THROUGHPUT_ROWS]
    rows.append({"metric": "quarantined items", "value": result["quarantined"]})
    create_table_artifact(
        rows, key=artifact_key("embed-throughput", index),
        description=f"Throughput of run {result['run_id']} ({index}): "
                    f"{tp['items_per_s']:.2f} items/s, {tp['tokens_per_s']:.0f} tokens/s, "
                    f"batch p95 {tp['batch_p95_s']:.2f} s, {result['quarantined']} quarantined")


def publish_summary(index: str, result: dict[str, Any]) -> None:
    """The markdown summary of one embed run: counts, the new version, and the gate's decision
    with its key metrics (its description says the decision too, so the run's Artifacts tab
    shows it without opening the card)."""
    evaluation = result.get("evaluation")
    markdown = summary_markdown(result).rstrip("\n") + "\n\n" + "\n".join(
        decision_markdown(evaluation))
    create_markdown_artifact(markdown, key=artifact_key("embed-summary", index),
                             description=f"Run {result['run_id']} of {index}: "
                                         f"{result['table']} v{result['version']}, "
                                         + verdict_line(evaluation))


def publish_report(index: str, report: dict[str, Any], markdown: str) -> None:
    create_markdown_artifact(markdown, key=artifact_key("evaluation-report", index),
                             description=f"Evaluation of {report['table']} v{report['version']}"
                                         f": {verdict_line(report)}")


def verdict_line(evaluation: dict[str, Any] | None) -> str:
    """``gate REJECTED: <reason>`` / ``gate passed (promoted); hybrid ndcg@10 0.82 (+0.01)``."""
    if not evaluation:
        return "not evaluated"
    if not evaluation.get("decision"):
        return f"no gate ({evaluation.get('action')})"
    if rejected(evaluation):
        return "gate REJECTED: " + reason(evaluation)
    shown = [f"{r['metric']} {r['candidate']:.3f}"
             + ("" if r["delta"] is None else f" ({r['delta']:+.3f})")
             for r in key_metrics(evaluation)[:2]]
    return (f"gate passed ({evaluation.get('action')}); {evaluation['decision']['mode']} "
            + ", ".join(shown))
