"""The embedding backend interface.

A backend is split in stages so the pipeline can run CPU work in worker threads ahead of the
model (infinity's encode_pre / encode_core / encode_post):

========================  ======  ==================================================
``estimate_cost(item)``   CPU     cheap, no decoding: text tokens + visual tokens
``decode(loaded)``        CPU     per item: decode/validate/resize media -> raises ItemError
``collate(decoded, role)`` CPU    per batch: a :class:`Batch` (chat template, tokens, pixels)
``forward(batch)``        model   an :class:`Encoded`: (n, full_dims) float32 L2-normalised
========================  ======  ==================================================

``forward`` has one return type whatever the model: :class:`Encoded` holds the item vectors,
and optionally the part vectors (a batch from ``collate_parts``: text alone, images alone,
fused; :mod:`mmindex.backends.parts`) and each item's token vectors (a multi-vector model, which
sets :attr:`Embedder.multivector_dims`; :mod:`mmindex.backends.colpali`). The empty-item rule is
:func:`require_content`, the same for every backend.

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


class Batch:
    """The base of what every ``collate`` returns: the model inputs of a few items.

    ``len(batch)`` is its number of items; ``num_tokens`` the tokens the model reads and
    ``padded_tokens`` what it computes, padding included (throughput metrics and the GPU memory
    probe read both). Subclasses set them as fields or properties.
    """

    num_tokens: int = 0
    padded_tokens: int = 0

    def __len__(self) -> int:
        raise NotImplementedError


@dataclass
class TensorBatch(Batch):
    """Processor outputs (CPU tensors, pinned when bound for CUDA) of one batch, for the models
    that run one padded sequence per item (Qwen3-VL, the generic VLM)."""

    inputs: dict[str, Any]
    size: int
    num_tokens: int = 0  # attention-mask ones: tokens the model really reads
    padded_tokens: int = 0  # size x longest sequence: what the GPU computes

    def __len__(self) -> int:
        return self.size

    @classmethod
    def of(cls, inputs: Mapping[str, Any], size: int, device: str) -> TensorBatch:
        """The batch of a processor's output; token counts from its attention mask."""
        from mmindex.backends.device import pin

        mask = inputs["attention_mask"]
        return cls(pin(dict(inputs), device), size, int(mask.sum()), int(mask.numel()))


@dataclass
class Encoded:
    """What ``forward`` returns for one batch, for every backend.

    Attributes:
        vectors: ``(n, full_dims)`` float32, L2-normalised: the item vectors.
        parts: for a batch from ``collate_parts``, ``vector_text`` / ``vector_image`` /
            ``vector_fused``, each ``(n, full_dims)`` float32, NaN rows where an item lacks the
            part (:mod:`mmindex.backends.parts`); else None.
        tokens: a multi-vector model's token vectors, per item ``(tokens_i, multivector_dims)``
            float32, L2-normalised; else None.
    """

    vectors: np.ndarray
    parts: dict[str, np.ndarray] | None = None
    tokens: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.vectors)


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
    def collate(self, decoded: Sequence[Any], role: Role = "document") -> Batch:
        """Build the model inputs of one batch (CPU tensors)."""

    @abc.abstractmethod
    def forward(self, batch: Any) -> Encoded:
        """Run the model: the item vectors ``(n, full_dims)`` float32, rows L2-normalised, and
        the part and token vectors where the batch and the model have them."""

    #: The longest input the model reads; longer text is truncated by the model (None: unknown).
    max_tokens: int | None = None

    #: Token-vector dimension of a multi-vector (late-interaction) model (its ``forward`` fills
    #: :attr:`Encoded.tokens`); None for the others.
    multivector_dims: int | None = None

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` as a document, *not* capped at :attr:`max_tokens` (the limit
        check needs the real length). Backends with a tokenizer override this; the default is
        the cost estimate, which may be capped."""
        return self.estimate_cost(LoadedItem(Item("count", text))).tokens

    def close(self) -> None:
        """Release the model (GPU memory). Optional."""
        return None

    #: Whether :meth:`collate_parts` batches give per-part vectors (text alone, images alone,
    #: fused: :mod:`mmindex.backends.parts`); ``two_tower``: parts by default.
    supports_parts: bool = False
    two_tower: bool = False

    def collate_parts(self, decoded: Sequence[Any], role: Role = "document") -> Batch:
        """Like :meth:`collate`, for a ``forward`` that fills :attr:`Encoded.parts` (the batch
        may hold extra variants of the items)."""
        raise NotImplementedError(f"{self.backend} does not embed text and images apart")


def truncate_normalize(vectors: np.ndarray, dims: int | None) -> np.ndarray:
    """Matryoshka: keep the first ``dims`` dimensions and re-normalise each row (L2)."""
    v = np.asarray(vectors, dtype=np.float32)
    if dims is not None and dims < v.shape[1]:
        v = v[:, :dims]
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return (v / np.maximum(norms, 1e-12)).astype(np.float32)


def encode_items(embedder: Embedder, items: Sequence[Item | LoadedItem],
                 role: Role = "document") -> Encoded:
    """Decode, collate and run a few items in one batch, in order (full dims).

    Media are read with :func:`mmindex.extract.media.read_blobs`.

    For corpora use the pipeline (batching, quarantine, metrics); this is for queries and tests.
    """
    from mmindex.extract.media import read_blobs

    loaded = [
        x if isinstance(x, LoadedItem) else LoadedItem(item=x, blobs=read_blobs(x), seq=i)
        for i, x in enumerate(items)
    ]
    decoded = [embedder.decode(x) for x in loaded]
    return embedder.forward(embedder.collate(decoded, role))


def embed_items(
    embedder: Embedder,
    items: Sequence[Item | LoadedItem],
    role: Role = "document",
    dims: int | None = None,
) -> np.ndarray:
    """The item vectors of a few items (:func:`encode_items`), truncated to ``dims``."""
    return truncate_normalize(encode_items(embedder, items, role).vectors, dims)


def embed_queries(embedder: Embedder, queries: Sequence[tuple[str | None, Any]], dims: int,
                  batch: int = 32) -> np.ndarray:
    """Query vectors for ``(text, image path)`` pairs, in order, ``batch`` at a time, truncated
    to ``dims``: what an index's reader and a cold search's query child both run."""
    items = [Item(id=f"q{i}", text=t or "", images=(str(im),) if im else ())
             for i, (t, im) in enumerate(queries)]
    parts = [embed_items(embedder, items[i:i + batch], role="query", dims=dims)
             for i in range(0, len(items), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, dims), np.float32)


def embed_items_multi(embedder: Embedder, items: Sequence[Item | LoadedItem],
                      role: Role = "document") -> list[np.ndarray]:
    """Token vectors of a few items (a multi-vector model), in order; see :func:`encode_items`."""
    tokens = encode_items(embedder, items, role).tokens
    if tokens is None:
        raise NotImplementedError(f"{embedder.backend} is not a multi-vector model")
    return tokens
