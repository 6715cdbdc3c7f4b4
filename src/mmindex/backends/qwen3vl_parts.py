"""Qwen3-VL's part vectors: an item's text alone and its visual part (images, video) alone.

Qwen3-VL embeds text and images together, so an item with both is embedded three times: as it
is (``vector``, unchanged from a run without parts), as its text-only variant and as its
visual-only variant (the same instruction and chat template, one part left out). Items with one
part reuse their own vector for that part. ``vector_fused`` is the normalised mean of the two
variants (:func:`mmindex.backends.parts.fuse`). The cost: up to 3x the model work for items that
have both, which is why ``part_vectors = "auto"`` leaves it off for Qwen3-VL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mmindex.backends.base import Batch, Encoded, TensorBatch
from mmindex.backends.parts import fuse
from mmindex.backends.qwen3vl_inputs import DecodedItem


@dataclass
class Qwen3VLPartsBatch(Batch):
    """The item batch and the text-only / visual-only variants of its items with both parts."""

    main: TensorBatch
    both: list[int]  # positions of the items with text and a visual part
    has_text: list[bool]
    text: TensorBatch | None  # the text-only variants of ``both``
    visual: TensorBatch | None  # the visual-only variants of ``both``

    def __len__(self) -> int:
        return len(self.main)

    @property
    def num_tokens(self) -> int:
        return sum(b.num_tokens for b in (self.main, self.text, self.visual) if b is not None)

    @property
    def padded_tokens(self) -> int:
        return sum(b.padded_tokens for b in (self.main, self.text, self.visual) if b is not None)


def _visual(d: DecodedItem) -> bool:
    return bool(d.images) or d.video is not None


def collate_parts(collate: Callable[..., TensorBatch], decoded: Sequence[DecodedItem],
                  role: str) -> Qwen3VLPartsBatch:
    """The item batch (``collate``) and, for items with both parts, its two variants."""
    both = [i for i, d in enumerate(decoded) if d.text is not None and _visual(d)]
    texts = [DecodedItem(decoded[i].item_id, decoded[i].text) for i in both]
    visuals = [DecodedItem(decoded[i].item_id, None, decoded[i].images, decoded[i].video,
                           decoded[i].visual_tokens) for i in both]
    return Qwen3VLPartsBatch(
        collate(decoded, role), both, [d.text is not None for d in decoded],
        collate(texts, role) if both else None,
        collate(visuals, role) if both else None)


def forward_parts(pooled: Callable[[TensorBatch], np.ndarray],
                  batch: Qwen3VLPartsBatch) -> Encoded:
    """The item vectors (``pooled``: the model run) and the part vectors."""
    main = pooled(batch.main)
    n, dims = main.shape
    text = np.full((n, dims), np.nan, np.float32)
    visual = np.full((n, dims), np.nan, np.float32)
    for i, has_text in enumerate(batch.has_text):  # one part: the item's own vector
        (text if has_text else visual)[i] = main[i]
    if batch.both:
        text[batch.both] = pooled(batch.text)
        visual[batch.both] = pooled(batch.visual)
    return Encoded(main, {"vector_text": text, "vector_image": visual,
                          "vector_fused": fuse(text, visual)})
