"""The work of one group: read media, hash, skip unchanged, OCR figures (setting ``ocr``),
quarantine bad items, embed, stage."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from mmindex.backends.base import Embedder, LoadedItem, require_content
from mmindex.config import Settings
from mmindex.embed.changes import HashIndex
from mmindex.embed.counts import Counts, Progress
from mmindex.embed.gpu import GpuSampler
from mmindex.embed.inflight import Inflight
from mmindex.embed.rows import RowBuffer
from mmindex.embed.summary import reasons_text
from mmindex.embed.throughput import Meter
from mmindex.errors import ItemError
from mmindex.index import ledger
from mmindex.index.staging import Staging
from mmindex.index.tables import read_hashes
from mmindex.items import BadRecord, Cost, Item

log = logging.getLogger(__name__)
IO_THREADS = 8  # media reads side by side


@dataclass(kw_only=True)
class GroupResult(Counts):
    """Counts and timings of one group (small and JSON-able: no vectors)."""

    group: int
    batches: list[tuple[int, int, float, float]] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    gpu: dict[str, float] = field(default_factory=dict)  # GpuStats fields


class GroupEmbedder:
    """Embeds one group (a segment) of a source into the staging table."""

    def __init__(self, run_id: str, index: str, emb: Embedder, settings: Settings, db: Any,
                 fingerprint: dict[str, Any], *, parts: bool = False):
        self.run_id, self.index, self.emb, self.s, self.db = run_id, index, emb, settings, db
        self.fingerprint, self.parts = fingerprint, parts  # parts: the per-part vectors too
        # OCR (its engine, languages) changes only what items with images read: an item without
        # one hashes the same with OCR on or off, so turning it on re-embeds the figures alone
        self._no_ocr = {k: v for k, v in fingerprint.items() if k != "ocr"}
        self.meter = Meter()
        self.counts = Counts()
        self.policy: Any = None  # the media data roots, set per source by run()
        self._bad: list[dict[str, Any]] = []
        self.inflight = Inflight(settings.max_inflight_bytes)

    def result(self, group: int) -> GroupResult:
        """What this group did, for the run's commit (counts, batch stats, stage times, GPU)."""
        m = self.meter
        return GroupResult(**asdict(self.counts.counts()), group=group,
                           batches=[(b.items, b.tokens, b.preprocess_s, b.model_s)
                                    for b in m.batches],
                           stages=dict(m.stages), gpu=asdict(m.gpu))

    def quarantine(self, item_id: str | None, err: ItemError, media: tuple[str, ...] = ()) -> None:
        self.counts.count_bad(err.reason)
        self._bad.append({"run_id": self.run_id, "index": self.index, "item_id": item_id,
                          "reason": err.reason, "message": str(err.args[0]), "media": list(media)})

    def run(self, src: Any, segment: Any, staging: Staging, *,
            progress: Callable[[Progress], None] | None = None,
            total: int | None = None) -> None:
        """Embed the records of ``segment`` (an :class:`~mmindex.extract.segments.Segment`):
        read from where it starts in the manifest, never the rows before it."""
        from mmindex.embed.batching import iter_batches
        from mmindex.embed.stream import Streamer
        from mmindex.extract import MediaPolicy, parent_of

        self.policy = MediaPolicy.for_source(parent_of(src.uri), self.s.media_roots,
                                             self.s.media_url_schemes)

        known = HashIndex(read_hashes(self.db, staging.table), staging.hashes())
        buffer = RowBuffer(staging, self.run_id, self.emb.model_id, staging.dims,
                           self.s.stage_rows, self.meter, stale=known.stale_staged)
        streamer = Streamer(self.emb, dims=staging.dims, meter=self.meter, on_bad=self._drop,
                            workers=self.s.prep_workers, prefetch=self.s.prefetch_batches,
                            parts=self.parts, on_emit=self.inflight.emit)
        chunks, offset = src.iter_chunks(segment), segment.first
        batches = (b.entries for b in iter_batches(
            self._todo(chunks, known), lambda x: x.cost, token_budget=self.s.token_budget,
            pixel_budget=self.s.pixel_budget, max_items=self.s.max_batch_items,
            window=self.s.sort_window, size=lambda x: self.inflight.of(x.item.id),
            max_window_bytes=self.inflight.limit // 2))

        def report() -> None:
            if progress:
                progress(Progress(offset + self.counts.seen, total, self.counts.counts()))
        sampler = GpuSampler.for_device(str(getattr(self.emb, "device", "cpu")))
        try:
            with sampler or contextlib.nullcontext():
                for items, vectors in streamer.run(batches):
                    buffer.add(items, vectors)
                    self.inflight.release(li.item.id for li in items)
                    self.counts.embedded += len(items)
                    report()
        except BaseException:
            with contextlib.suppress(Exception):  # keep the original error
                buffer.flush()  # vectors already computed survive: the next attempt reuses them
            raise
        finally:
            self.inflight.close()
            ledger.quarantine(self.db, self._bad)  # even when the run fails: reasons are kept
            self._bad = []
            if sampler:
                self.meter.gpu.merge(sampler.stats)
        buffer.flush()
        staging.remove(sorted(known.stale_staged - buffer.replaced))
        report()
        if self.counts.quarantined:
            log.warning("%s: %d of %d items quarantined (%s); their reasons are in the "
                        "_quarantine table", self.index, self.counts.quarantined,
                        self.counts.seen, reasons_text(self.counts.quarantine_reasons))

    def _todo(self, chunks: Iterator[list], known: HashIndex) -> Iterator[LoadedItem]:
        """Read media, hash, drop unchanged/bad items; yield the ones to embed with their cost."""
        pool = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="mmindex-io")
        # tesseract runs one process per image on one thread: as many at once as prep threads
        ocr_pool = (ThreadPoolExecutor(max_workers=max(1, self.s.prep_workers),
                                       thread_name_prefix="mmindex-ocr") if self.s.ocr else None)
        seq = 0
        try:
            for chunk in chunks:
                t0 = time.perf_counter()
                self.counts.seen += len(chunk)
                goods: list[Item] = []
                for x in chunk:
                    if isinstance(x, BadRecord):
                        self.quarantine(x.id, ItemError(x.reason, x.message))
                    else:
                        goods.append(x)
                for part, loaded in self._slices(goods, pool):
                    todo = self._classify(part, loaded, known)
                    if ocr_pool is not None:  # after the hash: unchanged items are never OCR'd
                        todo = self._figures().read(todo, ocr_pool, self.meter, self._drop,
                                                    self._ocr_skipped)
                    ready = []
                    for li in todo:
                        li.seq = seq
                        seq += 1
                        try:
                            li.cost = self._cost(li)
                            ready.append(li)
                        except ItemError as e:
                            self._drop(li, e)
                    self.meter.add_time("read", time.perf_counter() - t0)
                    yield from ready
                    t0 = time.perf_counter()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            if ocr_pool is not None:
                ocr_pool.shutdown(wait=False, cancel_futures=True)

    def _slices(self, goods: list[Item], pool: ThreadPoolExecutor
                ) -> Iterator[tuple[list[Item], list[dict[str, bytes] | ItemError]]]:
        """The chunk's items with their media read, in slices of about a quarter of
        ``max_inflight_bytes`` (a chunk of text items is one slice)."""
        if not any(x.media for x in goods):
            yield goods, list(pool.map(self._load, goods))
            return
        part: list[Item] = []
        loaded: list[dict[str, bytes] | ItemError] = []
        size = 0
        k = 0
        while k < len(goods):
            wave = goods[k:k + self.inflight.wave(IO_THREADS)]
            k += len(wave)
            part += wave
            loaded += pool.map(self._load, wave)
            size += sum(self.inflight.of(x.id) for x in wave)
            if size >= self.inflight.limit // 4:
                yield part, loaded
                part, loaded, size = [], [], 0
        if part:
            yield part, loaded

    def _classify(self, goods: list[Item], loaded: list, known: HashIndex) -> list[LoadedItem]:
        """Hash the items read; count the unchanged and staged ones; the rest, to embed."""
        from mmindex.embed.contenthash import content_hash

        hashes = {}
        for item, got in zip(goods, loaded, strict=True):
            if isinstance(got, ItemError):
                self.quarantine(item.id, got, item.media)
            else:
                hashes[item.id] = content_hash(
                    item, got, self.fingerprint if item.images else self._no_ocr)
        status = known.classify(hashes)
        todo, done = [], []
        for item, got in zip(goods, loaded, strict=True):
            st = status.get(item.id)
            if st == "unchanged":
                self.counts.skipped_unchanged += 1
            elif st == "staged":
                self.counts.reused_staged += 1
            if st == "embed":
                todo.append(LoadedItem(item, got, 0, hashes[item.id]))
            else:
                done.append(item.id)
        self.inflight.release(done)
        return todo

    def _figures(self) -> Any:
        from mmindex.embed.figures import FigureReader
        from mmindex.extract import Ocr

        return FigureReader.for_run(self.run_id, Ocr(self.s.ocr_languages, self.s.ocr_timeout_s),
                                    self.s.ocr_budget_s)

    def _ocr_skipped(self, li: LoadedItem) -> None:
        """Past the run's OCR budget: embedded without figure text, and hashed as with OCR off,
        so the next run finds it changed and reads its figures."""
        from mmindex.embed.contenthash import content_hash

        self.counts.ocr_skipped += 1
        li.content_hash = content_hash(li.item, li.blobs, self._no_ocr)

    def _drop(self, li: LoadedItem, err: ItemError) -> None:
        self.quarantine(li.item.id, err, li.item.media)
        self.inflight.release([li.item.id])

    def _load(self, item: Item) -> dict[str, bytes] | ItemError:
        from mmindex.extract.media import check_image_limits, read_blobs

        try:
            require_content(item)
        except ItemError as err:
            return err
        if not item.media:
            return {}
        self.inflight.before_read()
        size = 0
        try:
            blobs = read_blobs(item, storage_options=self.s.fsspec_options(),
                               max_bytes=self.s.max_media_bytes, policy=self.policy)
            size = sum(len(b) for b in blobs.values())
            for ref in item.images:
                w, h, _ = check_image_limits(blobs[ref], self.s.max_image_pixels)
                size += 3 * w * h  # decoded, before any resize
            return blobs
        except ItemError as e:
            size = 0
            return e
        finally:
            self.inflight.after_read(item.id, size)

    def _cost(self, li: LoadedItem) -> Cost:
        item = li.item
        if item.media and not {"image", "video"} & self.emb.modalities and not item.text.strip():
            raise ItemError("unsupported_format",
                            f"{self.emb.backend} embeds text only; this item has only media")
        size = len(item.text.encode())
        if size > self.s.max_text_bytes:  # before any tokenizer sees it: 5 MB took 70 s, 1.8 GB
            raise ItemError("text_too_long", f"{size:,} bytes > max_text_bytes="
                            f"{self.s.max_text_bytes:,} (not tokenised)")
        cost = self.emb.estimate_cost(li)
        limit, model_max = self.s.max_text_tokens, self.emb.max_tokens
        if size > min(limit, model_max or limit):  # tokens <= bytes: count only then
            n = self.emb.count_tokens(item.text)  # the real length, not the capped estimate
            if n > limit and self.s.text_overflow == "quarantine":
                raise ItemError("text_too_long", f"{n:,} tokens > max_text_tokens={limit:,} "
                                "(text_overflow=quarantine)")
            if model_max and n > model_max or n > limit:
                self.counts.truncated += 1  # the model reads the first tokens only: recorded
        return cost
