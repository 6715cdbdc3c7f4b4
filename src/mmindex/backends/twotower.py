"""The ``clip`` and ``siglip`` backends: two-tower models (transformers ``CLIPModel``,
``SiglipModel``).

The published recipes (the model cards' ``get_text_features`` / ``get_image_features``):

- text: the processor's tokenizer (CLIP: padding to the longest, truncation at 77 tokens; SigLIP:
  ``padding="max_length"`` to 64, as it was trained, since its text tower pools the *last*
  position), the text tower's pooled output through its projection (CLIP ``text_projection``,
  SigLIP the text ``head``), L2 norm;
- image: the processor's image pipeline (resize, crop, rescale, normalise), the vision tower's
  pooled output through its projection, L2 norm.

An item is embedded by the towers it has: text by the text tower, images by the image tower
(several images: the normalised mean of their vectors), and an item with both gets the *fused*
vector -- the mean of its normalised text and image vectors, renormalised -- in ``vector``.
:meth:`TwoTowerEmbedder.forward` also returns the three separately (``vector_text``,
``vector_image``, ``vector_fused``; NaN rows where the item lacks that part), which the pipeline
stores when fused columns are on (:mod:`mmindex.embed.rows`). Video is not read: an item with
video and nothing else is ``unsupported_format``; beside text or images the video is ignored.
A text query searches images through the shared space (text -> image search).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmindex.backends import parts as vp
from mmindex.backends.base import Batch, Embedder, Encoded, LoadedItem, Role, require_content
from mmindex.backends.device import compute_dtype, pin, resolve_device, to_device
from mmindex.backends.images import rgb_on_white
from mmindex.backends.weights import locate_weights
from mmindex.errors import ItemError, ModelUnavailableError
from mmindex.items import Cost

FAMILIES = {"clip": "CLIPModel", "siglip": "SiglipModel"}


@dataclass
class TwoTowerItem:
    """One decoded item: its text (None without) and its RGB images."""

    id: str
    text: str | None
    images: list[Any] = field(default_factory=list)


@dataclass
class TwoTowerBatch(Batch):
    """Model inputs of one batch: the texts' and the images' tensors and who owns each row."""

    size: int
    text_inputs: dict[str, Any] | None
    text_owner: list[int]  # item position of each text row
    pixel_values: Any | None
    image_owner: list[int]  # item position of each image row
    num_tokens: int = 0
    padded_tokens: int = 0

    def __len__(self) -> int:
        return self.size


class TwoTowerEmbedder(Embedder):
    """CLIP or SigLIP over text and images.

    Args:
        family: ``"clip"`` or ``"siglip"``.
        model_id_or_path: A local checkpoint directory or a hub id in the HF cache.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``.

    Raises:
        ModelUnavailableError: the weights are not on this machine or cannot be loaded.
    """

    modalities = frozenset({"text", "image"})
    supports_parts = True
    two_tower = True

    def __init__(self, family: str, model_id_or_path: str, *, device: str = "auto"):
        import threading

        import transformers

        if family not in FAMILIES:
            raise ValueError(f"unknown two-tower family {family!r}")
        self.backend, self.model_id = family, model_id_or_path
        try:
            self.model_dir, self.revision = locate_weights(model_id_or_path)
        except ModelUnavailableError as exc:
            raise ModelUnavailableError(
                f"{family} model {model_id_or_path!r} is not on this machine; mmindex never "
                "downloads weights. Help: copy the model folder here (`hf download ID` on a "
                f"machine with internet) and pass it as --model {family}:DIR, or put it in "
                f"HF_HOME's hub cache; tiny-{family} is a random-weight twin for smoke tests. "
                f"({exc})") from exc
        self.device = resolve_device(device)
        self.dtype = compute_dtype(self.device)
        self._lock = threading.Lock()  # the tokenizer is shared by the preprocessing threads
        try:
            self.processor = transformers.AutoProcessor.from_pretrained(str(self.model_dir))
            cls = getattr(transformers, FAMILIES[family])
            self.model = cls.from_pretrained(str(self.model_dir), dtype=self.dtype).to(
                self.device).eval()
        except (OSError, ValueError, KeyError, ImportError) as exc:
            raise ModelUnavailableError(
                f"cannot load {family} from {self.model_dir}: {exc}. Help: the folder must hold "
                "config.json, the weights and the processor/tokenizer files (SigLIP's tokenizer "
                "needs `pip install sentencepiece`).") from exc
        cfg = self.model.config
        self.full_dims = int(cfg.projection_dim if family == "clip"
                             else cfg.text_config.projection_size)
        self.max_tokens = int(cfg.text_config.max_position_embeddings)
        self.image_size = int(cfg.vision_config.image_size)
        self.patch = int(cfg.vision_config.patch_size)
        # SigLIP pools the last position, so it must see the padding it was trained with.
        self.padding = "max_length" if family == "siglip" else "longest"

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.backend, "model": self.model_id, "revision": self.revision,
                "dtype": str(self.dtype).removeprefix("torch."), "max_length": self.max_tokens,
                "padding": self.padding, "image_size": self.image_size,
                "item_vector": "text, image, or mean of both (normalised)"}

    def _tokens(self, text: str, truncation: bool = True) -> int:
        with self._lock:
            return len(self.processor.tokenizer(text, truncation=truncation,
                                                max_length=self.max_tokens)["input_ids"])

    def estimate_cost(self, loaded: LoadedItem) -> Cost:
        """Text tokens (capped) plus one token per image patch; every image is resized to
        ``image_size`` squared, whatever its size."""
        item = loaded.item
        tokens = self._tokens(item.text) if item.text.strip() else 0
        per_image = (self.image_size // self.patch) ** 2 + 1
        return Cost(tokens=tokens + per_image * len(item.images),
                    pixels=self.image_size ** 2 * len(item.images))

    def count_tokens(self, text: str) -> int:
        return self._tokens(text, truncation=False)

    def decode(self, loaded: LoadedItem) -> TwoTowerItem:
        """The text and the decoded RGB images.

        Raises:
            ItemError: ``empty_item``; ``unsupported_format`` for a video-only item;
                ``missing_media`` / ``corrupt_media`` for an image that is not there or not one.
        """
        from PIL import Image, UnidentifiedImageError

        item = loaded.item
        require_content(item)
        text = item.text if item.text.strip() else None
        if text is None and not item.images:
            raise ItemError("unsupported_format", f"{self.backend} reads text and images, "
                            "not video. Help: add a caption or a key frame as an image, or "
                            "use --model qwen3-vl-embedding-2b.", item.id)
        out = TwoTowerItem(item.id, text)
        for ref in item.images:
            blob = loaded.blobs.get(ref)
            if blob is None:
                raise ItemError("missing_media", f"image {ref} was not read. Help: check the "
                                "path and the data roots (media_roots).", item.id)
            try:
                with Image.open(io.BytesIO(blob)) as im:
                    out.images.append(rgb_on_white(im))  # as the checkpoint's processor
            except (UnidentifiedImageError, OSError, ValueError) as exc:
                raise ItemError("corrupt_media", f"image {ref} cannot be decoded ({exc}). "
                                "Help: re-export it as PNG or JPEG.", item.id) from exc
        return out

    def collate(self, decoded: Sequence[TwoTowerItem], role: Role = "document") -> TwoTowerBatch:
        """Tokenise the texts and process the images (CPU tensors); queries and documents are
        embedded alike (the recipes have no instruction)."""
        texts = [(i, d.text) for i, d in enumerate(decoded) if d.text is not None]
        images = [(i, im) for i, d in enumerate(decoded) for im in d.images]
        batch = TwoTowerBatch(len(decoded), None, [i for i, _ in texts], None,
                              [i for i, _ in images])
        with self._lock:
            if texts:
                enc = self.processor.tokenizer(
                    [t for _, t in texts], padding=self.padding, truncation=True,
                    max_length=self.max_tokens, return_tensors="pt")
                batch.text_inputs = pin(dict(enc), self.device)
                batch.num_tokens = int(enc["attention_mask"].sum())
                batch.padded_tokens = int(enc["attention_mask"].numel())
            if images:
                pixels = self.processor.image_processor(
                    [im for _, im in images], return_tensors="pt")["pixel_values"]
                batch.pixel_values = pin({"p": pixels}, self.device)["p"]
        return batch

    def _tower_vectors(self, batch: TwoTowerBatch) -> tuple[np.ndarray, np.ndarray]:
        """(text rows, image rows): each tower's projected, L2-normalised vectors."""
        import torch

        def norm(x: Any) -> np.ndarray:
            x = torch.nn.functional.normalize(x.float(), p=2, dim=-1)
            return x.cpu().numpy().astype(np.float32, copy=False)

        empty = np.zeros((0, self.full_dims), np.float32)
        text = image = empty
        with torch.inference_mode():
            if batch.text_inputs is not None:
                inputs = to_device(batch.text_inputs, self.device)
                if self.backend == "siglip":  # trained without a mask: the pads are read
                    inputs.pop("attention_mask", None)
                text = norm(self.model.get_text_features(**inputs).pooler_output)
            if batch.pixel_values is not None:
                pixels = batch.pixel_values.to(self.device, dtype=self.dtype)
                image = norm(self.model.get_image_features(pixel_values=pixels).pooler_output)
        return text, image

    def forward(self, batch: TwoTowerBatch) -> Encoded:
        """``(n, full_dims)``: text, image, or the fused vector of an item with both; and the
        parts (``vector_text`` / ``vector_image`` / ``vector_fused``, NaN rows where the item
        has no such part), which the towers compute anyway."""
        text, image = self._tower_vectors(batch)
        parts = vp.item_parts(batch.size, text, batch.text_owner, image, batch.image_owner)
        return Encoded(parts.pop("vector"), parts)

    def collate_parts(self, decoded: Sequence[TwoTowerItem],
                      role: Role = "document") -> TwoTowerBatch:
        return self.collate(decoded, role)  # the towers already run apart

    def close(self) -> None:
        self.model = None
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
