"""A deterministic, model-free test double: :class:`HashEmbedder` (spec ``hash``).

It exists so batching, writing, quarantine and incremental-update logic can be tested in
milliseconds. Its vectors carry no meaning beyond "same content, same vector; shared words, some
similarity" — it never stands in for a real model when judging retrieval quality or whether a
feature works end to end (use all-MiniLM-L6-v2 or the tiny Qwen3-VL for that).

Like simonw/llm's ``EmbedDemo`` it records what it embedded (``forward_calls``, ``embedded_ids``),
so a test can assert that an unchanged item was not embedded again.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmindex.backends.base import Batch, Embedder, Encoded, LoadedItem, Role, require_content
from mmindex.errors import ItemError
from mmindex.items import Cost

_WORD = re.compile(r"\w+", re.UNICODE)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
TOKENS_PER_IMAGE = 16  # a fixed visual cost, enough to exercise token budgets


@dataclass(frozen=True)
class HashInput:
    """One decoded item: its id, text, and the bytes of each media reference in order."""

    item_id: str
    text: str
    media: tuple[bytes, ...]


def _looks_like_image(ref: str, images: Sequence[str]) -> bool:
    return ref in images or ref.lower().endswith(IMAGE_SUFFIXES)


class HashEmbedder(Embedder):
    """Hashed bag of words plus hashed media bytes, L2-normalised (32 dims). Test double only.

    Attributes:
        forward_calls: Number of :meth:`forward` calls so far.
        embedded_ids: Ids of the last ``RECORD_IDS`` items passed to :meth:`forward`, in order
            (repeats included). Bounded, so a long benchmark run over this model measures the
            pipeline's memory, not this record's.
        items_seen: Number of items embedded so far (repeats counted).
    """

    backend = "hash"
    model_id = "hash"
    full_dims = 32
    modalities = frozenset({"text", "image", "video"})
    device = "cpu"

    RECORD_IDS = 10_000

    def __init__(self) -> None:
        self.forward_calls = 0
        self.items_seen = 0
        self.embedded_ids: deque[str] = deque(maxlen=self.RECORD_IDS)

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.backend, "model_id": self.model_id, "dims": self.full_dims,
                "scheme": "blake2b-bow-v1"}

    def estimate_cost(self, loaded: LoadedItem) -> Cost:
        item = loaded.item
        tokens = len(_WORD.findall(item.text)) + 2 + TOKENS_PER_IMAGE * len(item.media)
        pixels = 0
        for ref in item.images:
            pixels += _image_pixels(loaded.blobs.get(ref, b""))
        return Cost(tokens=tokens, pixels=pixels)

    def decode(self, loaded: LoadedItem) -> HashInput:
        item = loaded.item
        require_content(item)
        media = []
        for ref in item.media:
            if ref not in loaded.blobs:
                raise ItemError("missing_media", f"{ref}: no bytes were read for item {item.id}. "
                                "Help: check that the file exists and is readable.", item.id)
            data = loaded.blobs[ref]
            if not data:
                raise ItemError("corrupt_media", f"{ref}: file is empty (item {item.id}). "
                                "Help: re-export the file.", item.id)
            if _looks_like_image(ref, item.images):
                _check_image(ref, data, item.id)
            media.append(bytes(data))
        return HashInput(item.id, item.text, tuple(media))

    def collate(self, decoded: Sequence[HashInput], role: Role = "document") -> HashBatch:
        # Queries and documents share one space: the double has no instructions.
        return HashBatch(list(decoded))

    def forward(self, batch: HashBatch) -> Encoded:
        self.forward_calls += 1
        self.embedded_ids.extend(x.item_id for x in batch)
        self.items_seen += len(batch)
        out = np.zeros((len(batch), self.full_dims), dtype=np.float32)
        for row, x in zip(out, batch, strict=True):
            for word in _WORD.findall(x.text.lower()):
                _add_hashed(row, word.encode("utf-8"), weight=1.0)
            for data in x.media:
                _add_hashed(row, hashlib.sha256(data).digest(), weight=2.0, spread=8)
            norm = float(np.linalg.norm(row))
            if norm == 0.0:  # e.g. text of punctuation only: still a valid, stable unit vector
                _add_hashed(row, x.text.encode("utf-8"), weight=1.0)
                norm = float(np.linalg.norm(row))
            row /= norm
        return Encoded(out)


@dataclass
class HashBatch(Batch):
    """The decoded items of one batch (no tensors: the double hashes them in ``forward``)."""

    inputs: list[HashInput]

    def __len__(self) -> int:
        return len(self.inputs)

    def __iter__(self) -> Iterator[HashInput]:
        return iter(self.inputs)


def _add_hashed(row: np.ndarray, key: bytes, weight: float, spread: int = 1) -> None:
    """Add ``weight`` to ``spread`` hashed coordinates of ``row``, each with a hashed sign."""
    digest = hashlib.blake2b(key, digest_size=2 * spread).digest()
    for k in range(spread):
        idx, sign = digest[2 * k] % row.shape[0], 1.0 if digest[2 * k + 1] & 1 else -1.0
        row[idx] += sign * weight


def _check_image(ref: str, data: bytes, item_id: str) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except UnidentifiedImageError as e:
        raise ItemError("corrupt_media", f"{ref}: not an image PIL can read ({e}). "
                        "Help: re-export it as PNG or JPEG.", item_id) from e
    except (OSError, ValueError, SyntaxError) as e:  # truncated or damaged file
        raise ItemError("corrupt_media", f"{ref}: damaged image ({e}). "
                        "Help: re-export it as PNG or JPEG.", item_id) from e


def _image_pixels(data: bytes) -> int:
    """Pixels from the image header only (cheap); 0 when unreadable (decode will say why)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.width * im.height
    except Exception:  # noqa: BLE001 - a cost estimate never fails; decode reports the error
        return 0
