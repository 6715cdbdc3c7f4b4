"""Figure text for a run's items (setting ``ocr``): each distinct image once, within a budget.

The same image referenced by many items used to be OCR'd once per item, with no limit per run:
8 items sharing one slow image gave 8 timeouts of 60 s (issue 23, item 6). Results are now kept
per run by the image's content (a BLAKE2b digest of its bytes): an image is read once, whichever
items, chunks or groups of the run (in this process) reference it. ``ocr_budget_s`` bounds the
seconds of tesseract a run spends (summed over images); past it, items are embedded without
their figure text, counted (``ocr_skipped``, in the run summary and a warning) and hashed as if
OCR were off, so the next run sees them changed and reads them first.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from mmindex.backends.base import LoadedItem
from mmindex.errors import ItemError

log = logging.getLogger(__name__)

SKIPPED = "ocr_budget"  # what a skipped image's result is, in place of its text
CACHED = 50_000  # distinct images remembered per run (each result is <= 20k characters)


class FigureReader:
    """OCR for one run: results by image content, and the seconds spent against the budget."""

    _current: FigureReader | None = None  # the groups of one run in this process share it
    _lock = threading.Lock()

    def __init__(self, run_id: str, ocr: Any, budget_s: float | None):
        self.run_id, self.ocr, self.budget_s = run_id, ocr, budget_s
        self.spent_s = 0.0
        self.images = 0  # tesseract runs
        self._found: OrderedDict[str, str | ItemError] = OrderedDict()
        self._warned = False

    @classmethod
    def for_run(cls, run_id: str, ocr: Any, budget_s: float | None) -> FigureReader:
        with cls._lock:
            if cls._current is None or cls._current.run_id != run_id:
                cls._current = cls(run_id, ocr, budget_s)
            return cls._current

    @property
    def over_budget(self) -> bool:
        return self.budget_s is not None and self.spent_s >= self.budget_s

    def _one(self, job: tuple[bytes, str, str]) -> str | ItemError:
        data, ref, item_id = job
        if self.over_budget:
            return SKIPPED
        t0 = time.perf_counter()
        try:
            return self.ocr.read(data, ref, item_id)
        except ItemError as e:
            return e
        finally:
            with self._lock:
                self.spent_s += time.perf_counter() - t0
                self.images += 1

    def read(self, todo: list[LoadedItem], pool: ThreadPoolExecutor, meter: Any,
             quarantine: Callable[[LoadedItem, ItemError], None],
             skipped: Callable[[LoadedItem], None]) -> list[LoadedItem]:
        """OCR the images of ``todo`` not read yet in this run, side by side on ``pool``; the
        items whose OCR failed are quarantined, the ones past the budget handed to ``skipped``
        (embedded without figure text), the others get ``ocr_text`` appended to their text."""
        keys: dict[tuple[int, str], str] = {}
        jobs: dict[str, tuple[bytes, str, str]] = {}
        for k, li in enumerate(todo):
            for ref in dict.fromkeys(li.item.images):
                data = li.blobs[ref]
                d = keys[k, ref] = hashlib.blake2b(data, digest_size=16).hexdigest()
                if d not in self._found and d not in jobs:
                    jobs[d] = (data, ref, li.item.id)
        t0, n0 = self.spent_s, self.images
        for d, got in zip(jobs, pool.map(self._one, jobs.values()), strict=True):
            if got != SKIPPED:
                self._found[d] = got
        while len(self._found) > CACHED:
            self._found.popitem(last=False)
        meter.add_time("ocr", self.spent_s - t0)
        meter.add_time("ocr_images", self.images - n0)
        out = []
        for k, li in enumerate(todo):
            got = [self._found.get(keys[k, ref], SKIPPED) for ref in dict.fromkeys(li.item.images)]
            bad = next((g for g in got if isinstance(g, ItemError)), None)
            if bad is not None:
                quarantine(li, ItemError(bad.reason, bad.args[0], li.item.id))
                continue
            if SKIPPED in got:
                self._warn()
                skipped(li)
            elif got:
                texts = [str(g) for g in got]
                li.ocr_text, li.own_text = "\n\n".join(t for t in texts if t), li.item.text
                li.item = replace(li.item, text=with_text(li.item.text, texts))
            out.append(li)
        return out

    def _warn(self) -> None:
        if not self._warned:
            self._warned = True
            log.warning("OCR stopped for the rest of run %s: %.0f s spent, ocr_budget_s=%g; "
                        "the items left are embedded without figure text and read first by the "
                        "next run", self.run_id, self.spent_s, self.budget_s)


def with_text(text: str, texts: list[str]) -> str:
    from mmindex.extract import with_ocr_text

    return with_ocr_text(text, texts)
