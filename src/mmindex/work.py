"""The work of one group: read media, hash, skip unchanged, quarantine bad items, embed, stage."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from mmindex import ledger, store
from mmindex.backends.base import Embedder, LoadedItem
from mmindex.config import Settings
from mmindex.errors import ItemError
from mmindex.gpu import GpuSampler
from mmindex.items import BadRecord, Cost, Item
from mmindex.rows import RowBuffer
from mmindex.throughput import Meter


@dataclass
class Progress:
    """Where a run stands: items looked at so far (of ``total``) and what became of them."""

    done: int
    total: int | None
    embedded: int
    skipped: int
    quarantined: int


class GroupWork:
    """Embeds the chunks ``[start, end)`` of a source into the staging table."""

    def __init__(self, run_id: str, index: str, emb: Embedder, settings: Settings, db: Any,
                 fingerprint: dict[str, Any]):
        self.run_id, self.index, self.emb, self.s, self.db = run_id, index, emb, settings, db
        self.fingerprint = fingerprint
        self.meter = Meter()
        self.reasons: Counter[str] = Counter()
        self.seen = self.embedded = self.skipped_unchanged = self.reused_staged = 0
        self._bad: list[dict[str, Any]] = []

    def quarantine(self, item_id: str | None, err: ItemError, media: tuple[str, ...] = ()) -> None:
        self.reasons[err.reason] += 1
        self._bad.append({"run_id": self.run_id, "index": self.index, "item_id": item_id,
                          "reason": err.reason, "message": str(err.args[0]), "media": list(media)})

    def run(self, src: Any, start: int, end: int, staging: store.Staging, *,
            progress: Callable[[Progress], None] | None = None, offset: int = 0,
            total: int | None = None) -> None:
        from mmindex.batching import iter_batches
        from mmindex.stream import Streamer

        known = HashIndex(store.read_hashes(self.db, staging.table), staging.hashes())
        buffer = RowBuffer(staging, self.run_id, self.emb.model_id, staging.dims,
                           self.s.stage_rows, self.meter, stale=known.stale_staged)
        streamer = Streamer(self.emb, dims=staging.dims, meter=self.meter,
                            on_bad=lambda it, e: self.quarantine(it.item.id, e, it.item.media),
                            workers=self.s.prep_workers, prefetch=self.s.prefetch_batches)
        chunks = itertools.islice(src.iter_chunks(), start, end)
        batches = (b.entries for b in iter_batches(
            self._todo(chunks, known), lambda x: x.cost, token_budget=self.s.token_budget,
            pixel_budget=self.s.pixel_budget, max_items=self.s.max_batch_items,
            window=self.s.sort_window))

        def report() -> None:
            if progress:
                progress(Progress(offset + self.seen, total, self.embedded,
                                  self.skipped_unchanged + self.reused_staged,
                                  sum(self.reasons.values())))
        sampler = GpuSampler.for_device(str(getattr(self.emb, "device", "cpu")))
        try:
            with sampler or contextlib.nullcontext():
                for items, vectors in streamer.run(batches):
                    buffer.add(items, vectors)
                    self.embedded += len(items)
                    report()
        except BaseException:
            with contextlib.suppress(Exception):  # keep the original error
                buffer.flush()  # vectors already computed survive: the next attempt reuses them
            raise
        finally:
            ledger.quarantine(self.db, self._bad)  # even when the run fails: reasons are kept
            self._bad = []
            if sampler:
                self.meter.gpu.merge(sampler.stats)
        buffer.flush()
        staging.remove(sorted(known.stale_staged - buffer.replaced))
        report()

    def _todo(self, chunks: Iterator[list], known: HashIndex) -> Iterator[LoadedItem]:
        """Read media, hash, drop unchanged/bad items; yield the ones to embed with their cost."""
        from mmindex.contenthash import content_hash

        pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="mmindex-io")
        seq = 0
        try:
            for chunk in chunks:
                t0 = time.perf_counter()
                self.seen += len(chunk)
                goods: list[Item] = []
                for x in chunk:
                    if isinstance(x, BadRecord):
                        self.quarantine(x.id, ItemError(x.reason, x.message))
                    else:
                        goods.append(x)
                loaded = list(pool.map(self._load, goods))
                hashes = {}
                for item, got in zip(goods, loaded, strict=True):
                    if isinstance(got, ItemError):
                        self.quarantine(item.id, got, item.media)
                    else:
                        hashes[item.id] = content_hash(item, got, self.fingerprint)
                status = known.classify(hashes)
                todo = []
                for item, got in zip(goods, loaded, strict=True):
                    st = status.get(item.id)
                    if st == "unchanged":
                        self.skipped_unchanged += 1
                    elif st == "staged":
                        self.reused_staged += 1
                    elif st == "embed":
                        li = LoadedItem(item, got, seq, hashes[item.id])
                        seq += 1
                        try:
                            li.cost = self._cost(li)
                            todo.append(li)
                        except ItemError as e:
                            self.quarantine(item.id, e, item.media)
                self.meter.add_time("read", time.perf_counter() - t0)
                yield from todo
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _load(self, item: Item) -> dict[str, bytes] | ItemError:
        from mmindex.media import check_image_limits, read_blobs

        if item.is_empty:
            return ItemError("empty_item", "the item has no text, no image and no video")
        try:
            blobs = read_blobs(item, storage_options=self.s.storage_options,
                               max_bytes=self.s.max_media_bytes)
            for ref in item.images:
                check_image_limits(blobs[ref], self.s.max_image_pixels)
            return blobs
        except ItemError as e:
            return e

    def _cost(self, li: LoadedItem) -> Cost:
        item = li.item
        if item.media and not {"image", "video"} & self.emb.modalities and not item.text.strip():
            raise ItemError("unsupported_format",
                            f"{self.emb.backend} embeds text only; this item has only media")
        cost = self.emb.estimate_cost(li)
        if len(item.text.encode()) > self.s.max_text_tokens:  # tokens <= bytes: check only then
            n = self.emb.estimate_cost(LoadedItem(Item(item.id, item.text), {}, li.seq)).tokens
            if n > self.s.max_text_tokens:
                raise ItemError("text_too_long",
                                f"{n} tokens > max_text_tokens={self.s.max_text_tokens}")
        return cost


class HashIndex:
    """Which items are unchanged (in the table), already staged, stale-staged, or to embed.

    Holds 16 bytes per known row, whatever the corpus size: each side (index table, staging
    table) is a sorted array of ``hash(id)`` with a parallel array of ``hash(id + content
    hash)``. A lookup is a vectorised ``searchsorted`` per chunk. Both hashes are Python's
    (SipHash, 64-bit), so they only have to agree within this process, which is where the index
    lives. A wrong answer needs two independent 64-bit collisions on the same pair of rows.
    """

    def __init__(self, table_hashes: Iterable[pa.RecordBatch],
                 staged_hashes: Iterable[pa.RecordBatch]):
        self._table = _KeyedHashes(table_hashes)
        self._staged = _KeyedHashes(staged_hashes)
        self.stale_staged: set[str] = set()

    def classify(self, hashes: dict[str, str]) -> dict[str, str]:
        if not hashes:
            return {}
        ids = list(hashes)
        keys, values = _keys(ids, hashes.values())
        _, same_table = self._table.lookup(keys, values)
        in_staged, same_staged = self._staged.lookup(keys, values)
        out = {}
        for k, id_ in enumerate(ids):
            if same_table[k]:
                out[id_] = "unchanged"
                if in_staged[k] and not same_staged[k]:  # an interrupted run staged a newer version
                    self.stale_staged.add(id_)
            elif same_staged[k]:
                out[id_] = "staged"
            else:
                if in_staged[k]:
                    self.stale_staged.add(id_)
                out[id_] = "embed"
        return out


def _keys(ids: Iterable[str], hashes: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    ids = list(ids)
    keys = np.fromiter((hash(i) for i in ids), dtype=np.int64, count=len(ids))
    values = np.fromiter((hash(f"{i}\0{h}") for i, h in zip(ids, hashes, strict=True)),
                         dtype=np.int64, count=len(ids))
    return keys, values


class _KeyedHashes:
    """(id, content_hash) rows as two int64 arrays sorted by the id's hash (see HashIndex)."""

    def __init__(self, batches: Iterable[pa.RecordBatch]):
        parts = [_keys(b.column("id").to_pylist(), b.column("content_hash").to_pylist())
                 for b in batches if b.num_rows]
        keys = np.concatenate([k for k, _ in parts]) if parts else np.empty(0, np.int64)
        values = np.concatenate([v for _, v in parts]) if parts else np.empty(0, np.int64)
        order = np.argsort(keys, kind="stable")
        self.keys, self.values = keys[order], values[order]

    def lookup(self, keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each key: whether the id is here, and whether its content hash is the same."""
        if not len(self.keys):
            none = np.zeros(len(keys), dtype=bool)
            return none, none
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = self.keys[pos] == keys
        return found, found & (self.values[pos] == values)
