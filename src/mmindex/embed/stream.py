"""The streaming data path of one run: reader -> preprocessing workers -> model, with backpressure.

::

    reader thread          prep threads (N)            caller's thread
    manifest chunks  -->   decode media, collate  -->  model forward  -->  rows
    read media, hash,  q1  (per batch)             q2  (split on OOM /
    skip unchanged,                                     bisect bad items)
    pack batches

Both queues are bounded (and the media bytes in flight, :mod:`mmindex.embed.inflight`), so memory
stays flat whatever the corpus size and the model never
waits on preprocessing unless preprocessing is the bottleneck. A bad item raises ItemError in
decode or forward and is quarantined; any other exception stops the run (systemic).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mmindex.backends.base import Embedder, Encoded, LoadedItem, truncate_normalize
from mmindex.backends.parts import truncate_parts
from mmindex.embed.throughput import BatchStat, Meter
from mmindex.errors import ItemError, MMIndexError, is_cuda_oom

_DONE = object()
MAX_LONE_FAILURES = 16


@dataclass
class Prepared:
    """A batch whose items were decoded; ``decoded`` and ``items`` are aligned."""

    items: list[LoadedItem]
    decoded: list[Any]
    model_input: Any
    preprocess_s: float


@dataclass
class _Failure:
    exc: BaseException


class Streamer:
    """Runs batches of :class:`LoadedItem` through an embedder on worker threads.

    Args:
        embedder: the model backend.
        dims: Matryoshka dims to keep (None = full).
        on_bad: called with (LoadedItem, ItemError) for each quarantined item.
        workers: preprocessing threads.
        prefetch: prepared batches queued ahead of the model.
        parts: also the per-part vectors (``collate_parts``; :attr:`Encoded.parts`,
            :mod:`mmindex.backends.parts`).
        on_emit: called with the item ids of each batch as it goes to the workers (the media
            bytes they hold will come back: :mod:`mmindex.embed.inflight`).
    """

    def __init__(self, embedder: Embedder, *, dims: int | None, meter: Meter,
                 on_bad: Callable[[LoadedItem, ItemError], None], workers: int = 2,
                 prefetch: int = 4, role: str = "document", parts: bool = False,
                 on_emit: Callable[[Iterable[str]], None] | None = None):
        self.embedder, self.dims, self.meter, self.on_bad = embedder, dims, meter, on_bad
        self.on_emit = on_emit  # told the ids of each batch handed to the workers
        self.parts = parts
        self._collate = embedder.collate_parts if parts else embedder.collate
        self.workers, self.prefetch, self.role = max(1, workers), max(1, prefetch), role
        self._stop = threading.Event()
        self._lone_failures = 0  # consecutive single-item model failures (circuit breaker)

    # -- stage 2: preprocessing ------------------------------------------------------------
    def _prepare(self, batch: list[LoadedItem]) -> Prepared | None:
        t0 = time.perf_counter()
        items, decoded = [], []
        for it in batch:
            try:
                decoded.append(self.embedder.decode(it))
                items.append(it)
            except ItemError as exc:
                self.on_bad(it, exc)
        if not items:
            return None
        model_input = self._collate(decoded, self.role)
        return Prepared(items, decoded, model_input, time.perf_counter() - t0)

    def _put(self, q: queue.Queue, obj: Any) -> bool:
        while not self._stop.is_set():
            try:
                q.put(obj, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _feed(self, batches: Iterable[list[LoadedItem]], q1: queue.Queue) -> None:
        try:
            for b in batches:
                if self.on_emit is not None:
                    self.on_emit(li.item.id for li in b)
                if not self._put(q1, b):
                    return
        except BaseException as exc:  # systemic: surfaces in the caller's thread
            self._put(q1, _Failure(exc))
        finally:
            for _ in range(self.workers):
                self._put(q1, _DONE)

    def _work(self, q1: queue.Queue, q2: queue.Queue) -> None:
        while not self._stop.is_set():
            try:
                b = q1.get(timeout=0.2)
            except queue.Empty:
                continue
            if b is _DONE:
                self._put(q2, _DONE)
                return
            if isinstance(b, _Failure):
                self._put(q2, b)
                continue
            try:
                prepared = self._prepare(b)
            except BaseException as exc:
                self._put(q2, _Failure(exc))
                continue
            if prepared is not None:
                self._put(q2, prepared)

    # -- stage 3: the model ----------------------------------------------------------------
    def run(
        self, batches: Iterable[list[LoadedItem]]
    ) -> Iterator[tuple[list[LoadedItem], Encoded]]:
        """Yield ``(items, encoded)`` per batch as the model finishes them (not in input order):
        the vectors truncated to ``dims``, the parts with them when the run asked for parts, and
        the token vectors of a multi-vector model."""
        q1: queue.Queue = queue.Queue(maxsize=self.prefetch)
        q2: queue.Queue = queue.Queue(maxsize=self.prefetch)
        threads = [threading.Thread(target=self._feed, args=(batches, q1), daemon=True,
                                    name="mmindex-reader")]
        threads += [threading.Thread(target=self._work, args=(q1, q2), daemon=True,
                                     name=f"mmindex-prep-{i}") for i in range(self.workers)]
        for t in threads:
            t.start()
        done = 0
        try:
            while done < self.workers:
                got = q2.get()
                if got is _DONE:
                    done += 1
                    continue
                if isinstance(got, _Failure):
                    raise got.exc
                yield from self._forward(got)
        finally:
            self._stop.set()
            for t in threads:
                t.join(timeout=5)

    def _forward(self, p: Prepared) -> Iterator[tuple[list[LoadedItem], Encoded]]:
        t0 = time.perf_counter()
        try:
            out = self.embedder.forward(p.model_input)
        except Exception as exc:
            if not _splittable(exc):
                raise
            _release_cuda_cache()
            yield from self._split(p, exc)
            return
        model_s = time.perf_counter() - t0
        self._lone_failures = 0
        tokens = int(getattr(p.model_input, "num_tokens", 0) or 0)
        self.meter.add_batch(BatchStat(len(p.items), tokens, p.preprocess_s, model_s))
        if self.parts and out.parts is not None:  # NaN rows (no such part) stay NaN
            yield p.items, truncate_parts(out, self.dims, self.embedder.two_tower)
            return
        yield p.items, Encoded(truncate_normalize(out.vectors, self.dims), tokens=out.tokens)

    def _split(self, p: Prepared, exc: Exception) -> Iterator[tuple[list[LoadedItem], Encoded]]:
        """CUDA OOM or a per-item model error: halve the batch until the culprit stands alone."""
        if len(p.items) == 1:
            self._lone_failures += 1
            if self._lone_failures >= MAX_LONE_FAILURES:  # it is the model, not the items
                raise RuntimeError(
                    f"the model failed on {MAX_LONE_FAILURES} items in a row, each alone: {exc}"
                ) from exc
            reason = "media_too_large" if is_cuda_oom(exc) else "embed_failed"
            self.on_bad(p.items[0], ItemError(reason, f"model failed on this item alone: {exc}"))
            return
        mid = len(p.items) // 2
        for lo, hi in ((0, mid), (mid, len(p.items))):
            t0 = time.perf_counter()
            sub_input = self._collate(p.decoded[lo:hi], self.role)
            sub = Prepared(p.items[lo:hi], p.decoded[lo:hi], sub_input,
                           time.perf_counter() - t0)
            yield from self._forward(sub)


def _splittable(exc: BaseException) -> bool:
    """OOM, or an error raised by the model on some input (not a systemic one of ours)."""
    if isinstance(exc, MMIndexError):
        return False
    return is_cuda_oom(exc) or isinstance(exc, (RuntimeError, ValueError, IndexError))


def _release_cuda_cache() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
