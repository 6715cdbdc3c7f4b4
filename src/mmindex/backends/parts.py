"""Per-part item vectors: text, image and fused (the optional ``vector_*`` columns).

A backend that can embed an item's text and its images separately (CLIP/SigLIP's two towers;
Qwen3-VL by embedding the text-only and image-only variants of the item) returns, beside the
item vectors, three more in :attr:`~mmindex.backends.base.Encoded.parts` (``forward`` of a
``collate_parts`` batch):

=================  ================================================================
``vector_text``    the text alone (NaN row: the item has no text)
``vector_image``   the images alone; several images: their normalised mean (NaN: none)
``vector_fused``   mean of the normalised text and image vectors, renormalised; an item
                   with one part has that part's vector
=================  ================================================================

NaN rows are stored as nulls (:mod:`mmindex.embed.rows`), which vector search skips.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mmindex.errors import ConfigError

if TYPE_CHECKING:
    from mmindex.backends.base import Encoded

PART_COLUMNS = ("vector_text", "vector_image", "vector_fused")  # = mmindex.index.PART_COLUMNS


def wants_parts(setting: str, embedder: Any) -> bool:
    """Whether a run computes the part vectors: setting ``part_vectors`` is ``on``, or ``auto``
    (the default) with a two-tower model.

    Raises:
        ConfigError: ``on`` with a backend that cannot embed text and images apart.
    """
    if setting == "off":
        return False
    if setting == "auto":
        return bool(embedder.two_tower and embedder.supports_parts)
    if not embedder.supports_parts:
        raise ConfigError(
            f"part_vectors=on, but the {embedder.backend} backend cannot embed an item's text "
            "and images apart. Help: use a two-tower model (tiny-clip, siglip-base...) or "
            "qwen3-vl, or set part_vectors to auto/off.")
    return True


def _normalize(v: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(norms, 1e-12)).astype(np.float32)


def fuse(text: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Mean of the L2-normalised rows of ``text`` and ``image``, renormalised (row by row).

    A row that is NaN on one side takes the other side's (normalised) vector.
    """
    t, i = _normalize(np.asarray(text, np.float32)), _normalize(np.asarray(image, np.float32))
    t_ok = ~np.isnan(t).any(axis=1, keepdims=True)
    i_ok = ~np.isnan(i).any(axis=1, keepdims=True)
    total = np.where(t_ok, t, 0.0) + np.where(i_ok, i, 0.0)
    out = _normalize(total / np.maximum(t_ok.astype(np.float32) + i_ok, 1.0))
    out[~(t_ok | i_ok)[:, 0]] = np.nan
    return out


def truncate_parts(encoded: Encoded, dims: int | None, vector_is_fused: bool) -> Encoded:
    """Matryoshka for part vectors: the text and image vectors truncated and renormalised, the
    fused one recomputed from them (the mean of the *stored* parts at every ``dims``), and the
    item vectors truncated alike, or equal to the fused one for two-tower models."""
    from mmindex.backends.base import Encoded, truncate_normalize

    assert encoded.parts is not None
    text = truncate_normalize(encoded.parts["vector_text"], dims)  # NaN rows stay NaN
    image = truncate_normalize(encoded.parts["vector_image"], dims)
    fused = fuse(text, image)
    vector = fused if vector_is_fused else truncate_normalize(encoded.vectors, dims)
    return Encoded(vector, {"vector_text": text, "vector_image": image, "vector_fused": fused},
                   encoded.tokens)


def item_parts(n: int, text: np.ndarray, text_owner: Sequence[int], image: np.ndarray,
               image_owner: Sequence[int]) -> dict[str, np.ndarray]:
    """Item vectors from tower rows: ``text[j]`` belongs to item ``text_owner[j]``, likewise
    images (an item's several images are averaged, then normalised).

    Returns ``vector`` (fused where both parts exist, else the one there is) and the
    :data:`PART_COLUMNS`, each ``(n, dims)`` float32.
    """
    dims = text.shape[1] if len(text_owner) else image.shape[1]
    per_text = np.full((n, dims), np.nan, np.float32)
    for row, owner in enumerate(text_owner):
        per_text[owner] = text[row]
    per_image = np.full((n, dims), np.nan, np.float32)
    if len(image_owner):
        sums = np.zeros((n, dims), np.float32)
        np.add.at(sums, np.asarray(image_owner), _normalize(image))
        has = np.bincount(np.asarray(image_owner), minlength=n) > 0
        per_image[has] = _normalize(sums[has])
    fused = fuse(per_text, per_image)
    return {"vector": fused, "vector_text": per_text, "vector_image": per_image,
            "vector_fused": fused}
