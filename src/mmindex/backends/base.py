"""The embedding backend interface.

A backend is split in stages so the pipeline can run CPU work in worker threads ahead of the
model (infinity's encode_pre / encode_core / encode_post):

========================  ======  ==================================================
``estimate_cost(item)``   CPU     cheap, no decoding: text tokens + visual tokens
``decode(loaded)``        CPU     per item: decode/validate/resize media -> raises ItemError
``collate(decoded, role)`` CPU    per batch: chat template, tokenise, pixel tensors
``forward(batch)``        model   (n, full_dims) float32, L2-normalised
========================  ======  ==================================================

Multi-vector (late-interaction) models also set :attr:`Embedder.multivector_dims` and implement
``forward_multi(batch)``: a :class:`MultiVectors` with the pooled vectors ``forward`` returns
and each item's token vectors; the pipeline stores both (see :mod:`mmindex.backends.colpali`).

:func:`embed_items` chains them for callers that just want vectors (queries, tests).
Matryoshka truncation and re-normalisation happen in :func:`truncate_normalize`, outside the
backends, so every backend gets it the same way.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mmindex.errors import ItemError
from mmindex.items import Cost, Item

Role = Literal["document", "query"]


def require_content(item: Item) -> None:
    """The empty-item rule, one for every backend and for the reader stage: an item without
    text (blank counts as none), images or video has nothing to embed.

    Raises:
        ItemError: ``empty_item``.
    """
    if item.is_empty:
        raise ItemError("empty_item", f"item {item.id} has no text, no image and no video. "
                        "Help: fix the manifest row or drop it; an empty item has nothing to "
                        "embed.", item.id)


@dataclass
class LoadedItem:
    """An item with its media bytes read (by the pipeline's reader stage) and its position.

    ``blobs`` maps each media reference of ``item.media`` to its bytes. With OCR on (setting
    ``ocr``), ``ocr_text`` is the text found in the images, ``item.text`` is what the model reads
    (the item's text with ``ocr_text`` appended) and ``own_text`` the item's text alone.
    """

    item: Item
    blobs: Mapping[str, bytes] = field(default_factory=dict)
    seq: int = 0
    content_hash: str = ""
    cost: Cost | None = None
    ocr_text: str | None = None
    own_text: str | None = None
    #: The item's token vectors ``(tokens, multivector_dims)`` once a multi-vector model ran.
    multivector: np.ndarray | None = None


@dataclass
class MultiVectors:
    """What a multi-vector model returns for one batch.

    Attributes:
        pooled: ``(n, full_dims)`` float32, L2-normalised single vectors (the first stage).
        tokens: per item, ``(tokens_i, multivector_dims)`` float32 L2-normalised token vectors.
    """

    pooled: np.ndarray
    tokens: list[np.ndarray]


class Embedder(abc.ABC):
    """A document/query embedding model.

    Attributes:
        backend: Backend name (``qwen3-vl``, ``sentence-transformers``, ``hash``).
        model_id: Hub id or local path of the weights.
        full_dims: Output dimension before Matryoshka truncation.
        modalities: Subset of ``{"text", "image", "video"}`` the model accepts.
    """

    backend: str
    model_id: str
    full_dims: int
    modalities: frozenset[str] = frozenset({"text"})
    device: str = "cpu"

    @abc.abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the vectors (model id, revision, instructions, resize limits).

        Goes into every item's content hash, so changing any of it re-embeds everything.
        """

    @abc.abstractmethod
    def estimate_cost(self, loaded: LoadedItem) -> Cost:
        """Tokens (text + visual, after the model's resize rules) and pixels, without decoding."""

    @abc.abstractmethod
    def decode(self, loaded: LoadedItem) -> Any:
        """Decode and validate one item's media. Raises ``ItemError`` for a bad item."""

    @abc.abstractmethod
    def collate(self, decoded: Sequence[Any], role: Role = "document") -> Any:
        """Build the model inputs of one batch (CPU tensors)."""

    @abc.abstractmethod
    def forward(self, batch: Any) -> np.ndarray:
        """Run the model: ``(n, full_dims)`` float32, rows L2-normalised."""

    #: The longest input the model reads; longer text is truncated by the model (None: unknown).
    max_tokens: int | None = None

    #: Token-vector dimension of a multi-vector (late-interaction) model; None for the others.
    multivector_dims: int | None = None

    def forward_multi(self, batch: Any) -> MultiVectors:
        """Pooled vectors and per-item token vectors (multi-vector models only)."""
        raise NotImplementedError(f"{self.backend} is not a multi-vector model")

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` as a document, *not* capped at :attr:`max_tokens` (the limit
        check needs the real length). Backends with a tokenizer override this; the default is
        the cost estimate, which may be capped."""
        return self.estimate_cost(LoadedItem(Item("count", text))).tokens

    def close(self) -> None:
        """Release the model (GPU memory). Optional."""
        return None

    #: Whether :meth:`collate_parts` / :meth:`forward_parts` give per-part vectors (text alone,
    #: images alone, fused: :mod:`mmindex.backends.parts`); ``two_tower``: parts by default.
    supports_parts: bool = False
    two_tower: bool = False

    def collate_parts(self, decoded: Sequence[Any], role: Role = "document") -> Any:
        """Like :meth:`collate`, for :meth:`forward_parts` (may hold extra variants)."""
        raise NotImplementedError(f"{self.backend} does not embed text and images apart")

    def forward_parts(self, batch: Any) -> dict[str, np.ndarray]:
        """``{"vector", "vector_text", "vector_image", "vector_fused"}``, each ``(n, full_dims)``
        float32; NaN rows where an item lacks the part."""
        raise NotImplementedError(f"{self.backend} does not embed text and images apart")


def truncate_normalize(vectors: np.ndarray, dims: int | None) -> np.ndarray:
    """Matryoshka: keep the first ``dims`` dimensions and re-normalise each row (L2)."""
    v = np.asarray(vectors, dtype=np.float32)
    if dims is not None and dims < v.shape[1]:
        v = v[:, :dims]
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return (v / np.maximum(norms, 1e-12)).astype(np.float32)


def embed_items(
    embedder: Embedder,
    items: Sequence[Item | LoadedItem],
    role: Role = "document",
    dims: int | None = None,
) -> np.ndarray:
    """Embed a few items in one batch, in order.

    Media are read with :func:`mmindex.extract.media.read_blobs`.

    For corpora use the pipeline (batching, quarantine, metrics); this is for queries and tests.
    """
    from mmindex.extract.media import read_blobs

    loaded = [
        x if isinstance(x, LoadedItem) else LoadedItem(item=x, blobs=read_blobs(x), seq=i)
        for i, x in enumerate(items)
    ]
    decoded = [embedder.decode(x) for x in loaded]
    return truncate_normalize(embedder.forward(embedder.collate(decoded, role)), dims)


def embed_items_multi(embedder: Embedder, items: Sequence[Item | LoadedItem],
                      role: Role = "document") -> list[np.ndarray]:
    """Token vectors of a few items (a multi-vector model), in order; see :func:`embed_items`."""
    from mmindex.extract.media import read_blobs

    loaded = [
        x if isinstance(x, LoadedItem) else LoadedItem(item=x, blobs=read_blobs(x), seq=i)
        for i, x in enumerate(items)
    ]
    decoded = [embedder.decode(x) for x in loaded]
    return embedder.forward_multi(embedder.collate(decoded, role)).tokens
