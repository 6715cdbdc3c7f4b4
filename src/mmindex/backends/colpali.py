"""The ``colpali`` / ``colqwen2`` backends: multi-vector late-interaction retrieval models.

transformers' ``ColPaliForRetrieval`` (PaliGemma) and ``ColQwen2ForRetrieval`` (Qwen2-VL), fed
the inputs of the official code, colpali-engine 0.3.18 (``REFERENCE``): a page image goes through
the processor's ``process_images`` with the engine's visual prompt, a text is built as the
engine's ``process_queries`` builds it (no prefix, ten augmentation tokens); ColQwen2 pages get
Qwen2-VL's M-RoPE positions (:meth:`LateInteractionEmbedder._positions`). The model returns one
L2-normalised vector per token (``embedding_dim``, 128 in the released models) and documents are
scored against a query by MaxSim (for each query token the best document token's cosine,
summed). ``tests/test_colpali_official.py`` compares the vectors with the engine's own classes.

How an item becomes vectors (documents and queries alike):

- an item with images: each image through ``process_images``; the item's token vectors are the
  tokens of all its images (MaxSim over the union = the best page for each query token). Its
  text is not embedded (the recipe embeds pages, not captions); it stays in the row and in the
  full-text index for ``fts``/``hybrid`` search.
- an item with text and no image: the text through ``process_queries``.
- video only: ``unsupported_format`` (the models read pages, not video); with text or images
  beside it the video is ignored for the vectors, like the text-only backends do with media.

Per item the backend keeps the tokens whose attention mask is 1 (padding dropped) and a pooled
single vector: their mean, L2-normalised, for the first stage and for every single-vector mode.
:meth:`forward` returns that pooled vector, so the backend works wherever any other does;
:meth:`forward` also returns the token vectors (the pipeline stores both).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmindex.backends import media
from mmindex.backends.base import Batch, Embedder, Encoded, LoadedItem, Role, require_content
from mmindex.backends.device import compute_dtype, pin, resolve_device, to_device
from mmindex.backends.images import rgb_on_white
from mmindex.backends.weights import locate_weights
from mmindex.errors import ConfigError, ItemError, ModelUnavailableError
from mmindex.items import Cost

REFERENCE = "colpali-engine 0.3.18"  # the official code whose inputs this backend follows
QUERY_AUGMENTATION = "<|endoftext|>"  # ColQwen2's query augmentation token (ColPali: <pad>)
COLPALI_PAGE_PROMPT = "<bos>Describe the image."  # after transformers' own "<image>...<bos>"
FAMILIES = {"colpali": ("ColPaliForRetrieval", "ColPaliProcessor"),
            "colqwen2": ("ColQwen2ForRetrieval", "ColQwen2Processor")}


@dataclass
class PageItem:
    """One decoded item: its images (PIL, in order) or its text."""

    item_id: str
    text: str | None
    images: list[Any] = field(default_factory=list)


@dataclass
class LateInteractionBatch(Batch):
    """Processor outputs of one batch: image segments and text segments, and who owns each."""

    image_inputs: dict[str, Any] | None
    text_inputs: dict[str, Any] | None
    image_owner: list[int]  # item index of each image row
    text_owner: list[int]  # item index of each text row
    size: int
    num_tokens: int
    padded_tokens: int

    def __len__(self) -> int:
        return self.size


def family_of(model_dir: Path) -> str:
    """``colpali`` or ``colqwen2`` from a checkpoint's ``config.json`` (``model_type``)."""
    import json

    try:
        model_type = json.loads((model_dir / "config.json").read_text()).get("model_type")
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"{model_dir}: no readable config.json ({exc}). Help: pass "
                                    "a complete ColPali/ColQwen2 checkpoint directory.") from exc
    if model_type not in FAMILIES:
        raise ModelUnavailableError(
            f"{model_dir}: model_type {model_type!r} is not a transformers ColPali/ColQwen2 "
            "retrieval checkpoint. Help: use the '-hf' conversions (vidore/colpali-v1.3-hf, "
            "vidore/colqwen2-v1.0-hf); colpali-engine's adapter folders do not load here.")
    return str(model_type)


class LateInteractionEmbedder(Embedder):
    """ColPali or ColQwen2 (detected from the checkpoint) over page images and text.

    Args:
        model_id_or_path: A local checkpoint directory, or a hub id already in the HF cache.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        max_length: Token limit of a text (longer text is truncated by the processor).

    Raises:
        ModelUnavailableError: the weights are not on this machine or are not ColPali/ColQwen2.
    """

    modalities = frozenset({"text", "image"})

    def __init__(self, model_id_or_path: str, *, device: str = "auto", max_length: int = 512):
        import transformers

        self.model_id = model_id_or_path
        self.model_dir, self.revision = locate_weights(model_id_or_path)
        self.backend = family_of(self.model_dir)
        self.device = resolve_device(device)
        self.dtype = compute_dtype(self.device)
        self.max_length = self.max_tokens = max_length
        self._lock = threading.Lock()  # one tokenizer shared by the preprocessing threads
        model_cls, processor_cls = (getattr(transformers, n) for n in FAMILIES[self.backend])
        try:
            self.processor = processor_cls.from_pretrained(str(self.model_dir))
            self.model = model_cls.from_pretrained(str(self.model_dir), dtype=self.dtype)
            self.model = self.model.to(self.device).eval()
        except (OSError, ValueError, KeyError) as exc:
            raise ModelUnavailableError(
                f"cannot load {self.backend} from {self.model_dir}: {exc}. Help: the directory "
                "must be a complete checkpoint (config.json, *.safetensors, tokenizer and "
                "processor files); re-copy it.") from exc
        if self.backend == "colpali":  # the engine's page prompt: "<image><bos>Describe the image."
            self.processor.visual_prompt_prefix = COLPALI_PAGE_PROMPT  # (its <bos> comes twice)
        self.full_dims = self.multivector_dims = int(self.model.config.embedding_dim)

    def fingerprint(self) -> dict[str, Any]:
        """Model, revision, dtype, the processor's prompts and image size, max_length."""
        local = self.model_dir.name if Path(self.model_id).expanduser().is_dir() else None
        ip = self.processor.image_processor
        return {"backend": self.backend, "model": local or self.model_id,
                "revision": self.revision, "dtype": str(self.dtype).removeprefix("torch."),
                "visual_prompt": self.processor.visual_prompt_prefix,
                "query_format": REFERENCE, "max_length": self.max_length,
                "image_size": dict(getattr(ip, "size", {}) or {}), "pooled": "mean-l2"}

    def _image_tokens(self, height: int, width: int) -> int:
        data = self.processor._get_num_multimodal_tokens(image_sizes=[(height, width)])
        return int(data.num_image_tokens[0]) + 8  # the visual prompt around the image tokens

    def estimate_cost(self, loaded: LoadedItem) -> Cost:
        """Image tokens from the headers (no decode), else the text's tokens."""
        from PIL import Image

        item = loaded.item
        if item.images:
            tokens = pixels = 0
            for ref in item.images:
                try:
                    with Image.open(io.BytesIO(media.media_bytes(loaded, ref))) as image:
                        width, height = image.size
                except Exception:
                    width = height = 1
                tokens += self._image_tokens(height, width)
                pixels += width * height
            return Cost(tokens=tokens, pixels=pixels)
        return Cost(tokens=min(self.count_tokens(item.text), self.max_length), pixels=0)

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self.processor.tokenizer(text)["input_ids"]) + 11  # <bos>, augmentation

    def decode(self, loaded: LoadedItem) -> PageItem:
        """Decode the item's images fully (resizing is the processor's, as in the recipe).

        Raises:
            ItemError: ``empty_item``, ``unsupported_format`` (video only, not an image),
                ``missing_media``, ``corrupt_media`` or ``media_too_large``.
        """
        item = loaded.item
        require_content(item)
        if not item.images and not item.text.strip():
            raise ItemError("unsupported_format", f"{self.backend} embeds page images and text, "
                            "not video. Help: add a caption or a key frame as an image, or use "
                            "--model qwen3-vl-embedding-2b for video.", item.id)
        out = PageItem(item.id, None if item.images else item.text)
        for ref in item.images:
            image = media.open_image(ref, media.media_bytes(loaded, ref), item.id)
            out.images.append(rgb_on_white(image))  # as the processor: alpha on white
        return out

    def collate(self, decoded: Sequence[PageItem], role: Role = "document"
                ) -> LateInteractionBatch:
        """``process_images`` over every image, ``process_queries`` over every text (CPU)."""
        if role not in ("document", "query"):
            raise ConfigError(f"unknown role {role!r}. Help: use 'document' or 'query'.")
        images = [(i, im) for i, d in enumerate(decoded) for im in d.images]
        texts = [(i, d.text) for i, d in enumerate(decoded) if not d.images]
        image_inputs = text_inputs = None
        with self._lock:
            if images:
                image_inputs = dict(self.processor.process_images(images=[im for _, im in images]))
            if texts:
                text_inputs = dict(self._query_inputs([t or "" for _, t in texts]))
        real = padded = 0
        for inputs in (image_inputs, text_inputs):
            if inputs is not None:
                # labels are for training; token_type_ids stay: PaliGemma builds its
                # bidirectional prefix attention from them (without them: cosine 0.6)
                inputs.pop("labels", None)
                real += int(inputs["attention_mask"].sum())
                padded += int(inputs["attention_mask"].numel())
        return LateInteractionBatch(
            pin(image_inputs, self.device) if image_inputs else None,
            pin(text_inputs, self.device) if text_inputs else None,
            [i for i, _ in images], [i for i, _ in texts], len(decoded), real, padded)

    def _query_inputs(self, texts: list[str]) -> Any:
        """A text as colpali-engine 0.3.18's ``process_queries`` builds it (no query prefix).

        ColQwen2: ``text + "<|endoftext|>" * 10``; ColPali: ``"<bos>" + text + "<pad>" * 10``,
        the same token ids as the engine. Deliberate differences: a text longer than
        ``max_length`` tokens is truncated (the engine does not truncate); ColPali queries get
        ``token_type_ids`` of zeros, so a query's vectors do not depend on the padding of its
        batch (they equal the engine's for the query alone; the engine's own vectors for a padded
        query in a batch differ, token cosine 0.79 on the twin).
        """
        tok = self.processor.tokenizer
        if self.backend == "colqwen2":
            return tok([t + QUERY_AUGMENTATION * 10 for t in texts], padding="longest",
                       truncation=True, max_length=self.max_length, return_tensors="pt")
        inputs = tok([tok.bos_token + t + tok.pad_token * 10 for t in texts],
                     return_token_type_ids=False, padding="longest", truncation=True,
                     max_length=self.max_length, return_tensors="pt")
        inputs["token_type_ids"] = inputs["input_ids"].new_zeros(inputs["input_ids"].shape)
        return inputs

    def _tokens(self, inputs: dict[str, Any]) -> list[np.ndarray]:
        import torch

        inputs = to_device(inputs, self.device)
        with torch.inference_mode():
            emb = self.model(**inputs, **self._positions(inputs)).embeddings.float()
        mask = inputs["attention_mask"].bool()
        return [emb[j][mask[j]].cpu().numpy().astype(np.float32, copy=False)
                for j in range(emb.shape[0])]

    def _positions(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """ColQwen2 pages: the M-RoPE positions of Qwen2-VL, as colpali-engine's model gets them.

        transformers' ``ColQwen2ForRetrieval`` calls its inner model with ``input_ids=None`` and no
        ``image_grid_thw``, so image tokens would get 1-D positions (page token cosine 0.99998
        against colpali-engine); the inner model's ``get_rope_index`` gives each image token its
        (row, column) position. Text-only inputs keep the model's own 1-D positions.
        """
        if self.backend != "colqwen2" or "image_grid_thw" not in inputs:
            return {}
        ids = inputs["input_ids"]
        image_tokens = (ids == self.model.config.vlm_config.image_token_id).int()
        positions, _ = self.model.vlm.get_rope_index(
            ids, image_tokens, image_grid_thw=inputs["image_grid_thw"],
            attention_mask=inputs["attention_mask"])
        return {"position_ids": positions}

    def forward(self, batch: LateInteractionBatch) -> Encoded:
        """Token vectors per item (padding dropped) and the pooled vector of each,
        ``(n, embedding_dim)``, L2-normalised."""
        parts: list[list[np.ndarray]] = [[] for _ in range(batch.size)]
        for inputs, owners in ((batch.image_inputs, batch.image_owner),
                               (batch.text_inputs, batch.text_owner)):
            if inputs is not None:
                for owner, tokens in zip(owners, self._tokens(inputs), strict=True):
                    parts[owner].append(tokens)
        tokens = [np.concatenate(p) for p in parts]
        return Encoded(np.stack([pool(t) for t in tokens]), tokens=tokens)

    def close(self) -> None:
        import torch

        self.model = None
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()


def pool(tokens: np.ndarray) -> np.ndarray:
    """The mean of an item's (normalised) token vectors, L2-normalised: its single vector."""
    mean = np.asarray(tokens, np.float32).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
