"""A bound on the media bytes a run holds at once, whatever the item count (issue 23, item 5).

Queues bounded by item count did not bound memory: 40 rows pointing at one 55 MiB image peaked
at 2,841 MiB against 387 MiB for one row, as each of the 4,096 items of a chunk (and of a sort
window, and of the prefetched batches) held its own copy. Each item is now charged its media
bytes plus its decoded size (``width * height * 3`` from the image header) from when its media
is read until its vectors are buffered or it leaves the run (unchanged, quarantined). Before
reading the next item's media the reader waits while the charge is at ``max_inflight_bytes``
and some of it is downstream (batches handed to the model side, which will release it); the
reader's own share (its slice and its sort window) is cut early by bytes, so waiting never waits
on itself. An item larger than the bound still runs, alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable


class Inflight:
    """Charged bytes per item id, their total, and the share handed downstream."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = self.downstream = self.reading = 0
        self.largest = 0  # the largest charge seen: what a read about to start may add
        self.peak = 0
        self._held: dict[str, int] = {}
        self._emitted: set[str] = set()
        self._cv = threading.Condition()
        self._closed = False

    def before_read(self) -> None:
        """Wait for room to read one more item's media (never on bytes that nobody releases)."""
        with self._cv:
            while (not self._closed and self.downstream > 0
                   and self.used + (self.reading + 1) * self.largest >= self.limit):
                self._cv.wait(0.2)
            self.reading += 1

    def after_read(self, key: str, n: int) -> None:
        """The item ``key`` was read (``n`` bytes, 0 when it failed): charge it."""
        with self._cv:
            self.reading -= 1
            if n:
                self._held[key] = self._held.get(key, 0) + n
                self.used += n
                self.largest = max(self.largest, n)
                self.peak = max(self.peak, self.used)

    def wave(self, most: int) -> int:
        """How many items' media to read side by side next: one until a size is known, then as
        many as fit a quarter of the bound (at least one, at most ``most``)."""
        if not self.largest:
            return 1
        return max(1, min(most, self.limit // 4 // self.largest))

    def of(self, key: str) -> int:
        return self._held.get(key, 0)

    def emit(self, keys: Iterable[str]) -> None:
        """These items were handed to the model side: their bytes will come back."""
        with self._cv:
            for k in keys:
                if k in self._held and k not in self._emitted:
                    self._emitted.add(k)
                    self.downstream += self._held[k]

    def release(self, keys: Iterable[str]) -> None:
        """These items are done (embedded and buffered, skipped or quarantined)."""
        with self._cv:
            for k in keys:
                n = self._held.pop(k, 0)
                self.used -= n
                if k in self._emitted:
                    self._emitted.discard(k)
                    self.downstream -= n
            self._cv.notify_all()

    def close(self) -> None:
        """The run stopped: nobody waits any more."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
