"""The ``vlm`` backend: a generic last-token VLM embedder (VLM2Vec-, GME-style) driven by a recipe.

Everything model-specific (prompt template, instructions, image placeholder, pooling,
normalisation, limits) is data in a :class:`~mmindex.backends.vlm_recipe.Recipe`; the code is
the same for every model: decode and resize images (the recipe's steps, ``vlm_images``), render
one prompt per item, run the processor with ``do_resize=False`` and right padding, run the base
model (``Qwen2VLModel``; M-RoPE or 1-D positions as the recipe says), pool, normalise. Text
and images; video items are quarantined (``unsupported_format``): no shipped recipe covers
video yet.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmindex.backends import media, vlm_images
from mmindex.backends import qwen3vl_inputs as qi
from mmindex.backends.base import (
    Embedder,
    Encoded,
    LoadedItem,
    Role,
    TensorBatch,
    require_content,
)
from mmindex.backends.device import compute_dtype, resolve_device, to_device
from mmindex.backends.vlm_recipe import ARCHITECTURES, Recipe, find_recipe
from mmindex.backends.weights import default_attention, locate_weights
from mmindex.errors import ConfigError, ItemError, ModelUnavailableError
from mmindex.items import Cost

FACTOR = vlm_images.FACTOR


class VLMEmbedder(Embedder):
    """A recipe-driven VLM embedder over text and images.

    Args:
        model_id_or_path: A local checkpoint directory, or a hub id already in the HF cache.
        recipe: A shipped recipe name or a ``.toml`` path; default: the folder's
            ``embedding_recipe.toml``, else the shipped recipe that lists the hub id.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        document_instruction: Overrides the recipe's document instruction.
        query_instruction: Overrides the recipe's query instruction.

    Raises:
        ModelUnavailableError: weights or recipe missing, or the checkpoint does not load.
        ConfigError: the recipe is invalid.
    """

    backend = "vlm"
    modalities = frozenset({"text", "image"})

    def __init__(self, model_id_or_path: str, *, recipe: str | None = None,
                 device: str = "auto", document_instruction: str | None = None,
                 query_instruction: str | None = None):
        import transformers

        self.model_id = model_id_or_path
        self.model_dir, self.revision = locate_weights(model_id_or_path)
        base = find_recipe(self.model_dir, model_id_or_path, recipe)
        overrides = {k: v for k, v in (("document", document_instruction),
                                       ("query", query_instruction)) if v}
        self.recipe: Recipe = base if not overrides else Recipe(
            **{**base.__dict__, "instructions": {**base.instructions, **overrides}})
        self.device = resolve_device(device)
        on_gpu = self.device.startswith("cuda")
        self.dtype = compute_dtype(self.device)
        self.max_tokens = self.recipe.max_length
        self._lock = threading.Lock()
        try:
            self.processor = transformers.AutoProcessor.from_pretrained(
                str(self.model_dir), padding_side="right")
            self.processor.tokenizer.padding_side = "right"
            cls = getattr(transformers, ARCHITECTURES[self.recipe.architecture])
            self.model = cls.from_pretrained(
                str(self.model_dir), dtype=self.dtype,
                attn_implementation=default_attention(on_gpu)).to(self.device).eval()
        except (OSError, ValueError, KeyError) as exc:
            raise ModelUnavailableError(
                f"cannot load {self.recipe.architecture} from {self.model_dir}: {exc}. Help: the "
                "folder must be a complete checkpoint (config.json, *.safetensors, tokenizer and "
                "processor files) of the recipe's architecture.") from exc
        config = self.model.config
        self.full_dims = int(getattr(config, "text_config", config).hidden_size)
        self._eos = self.processor.tokenizer.eos_token if self.recipe.pooling == "eos" else ""
        self._overhead = self._tokens(self.recipe.prompt("document", None, 0))

    def _tokens(self, text: str) -> int:
        with self._lock:
            return len(self.processor.tokenizer(text)["input_ids"])

    def fingerprint(self) -> dict[str, Any]:
        local = self.model_dir.name if Path(self.model_id).expanduser().is_dir() else None
        return {"backend": self.backend, "model": local or self.model_id,
                "revision": self.revision, "dtype": str(self.dtype).removeprefix("torch."),
                **self.recipe.fingerprint()}

    def estimate_cost(self, loaded: LoadedItem) -> Cost:
        from PIL import Image

        item = loaded.item
        tokens = self._overhead + (self._tokens(item.text) if item.text.strip() else 0)
        pixels = 0
        for ref in item.images:
            try:
                with Image.open(io.BytesIO(media.media_bytes(loaded, ref))) as image:
                    width, height = image.size
                h, w = self._resized(height, width)
            except Exception:
                h = w = FACTOR * 2
            tokens, pixels = tokens + (h // FACTOR) * (w // FACTOR) + 2, pixels + h * w
        return Cost(tokens=min(tokens, self.recipe.max_length), pixels=pixels)

    def _resized(self, height: int, width: int) -> tuple[int, int]:
        return vlm_images.final_size(height, width, self.recipe)

    def count_tokens(self, text: str) -> int:
        return self._overhead + self._tokens(text)

    def decode(self, loaded: LoadedItem) -> qi.DecodedItem:
        """Decode and resize the item's images (the recipe's steps: ``vlm_images``).

        Raises:
            ItemError: ``empty_item``, ``unsupported_format`` (video, unknown formats),
                ``missing_media``, ``corrupt_media`` or ``media_too_large``.
        """
        item = loaded.item
        require_content(item)
        if item.video:
            raise ItemError("unsupported_format", f"{item.video}: the {self.recipe.name} recipe "
                            "does not embed video. Help: use qwen3-vl-embedding-2b for video.",
                            item.id)
        out = qi.DecodedItem(item.id, item.text if item.text.strip() else None)
        for ref in item.images:
            opened = media.open_image(ref, media.media_bytes(loaded, ref), item.id)
            image = vlm_images.prepare(opened, self.recipe, ref, item.id)
            out.images.append(image)
            out.visual_tokens += (image.height // FACTOR) * (image.width // FACTOR)
        if out.visual_tokens + self._overhead > self.recipe.max_length:
            raise ItemError("media_too_large", f"{out.visual_tokens} visual tokens exceed "
                            f"max_length {self.recipe.max_length}. Help: lower the recipe's "
                            "max_pixels or use fewer images per item.", item.id)
        return out

    def prompts(self, decoded: Sequence[qi.DecodedItem], role: Role) -> list[str]:
        """One prompt per item: the recipe's template (plus EOS when pooling is ``eos``)."""
        if role not in self.recipe.instructions:
            raise ConfigError(f"unknown role {role!r}. Help: use 'document' or 'query'.")
        return [self.recipe.prompt(role, d.text, len(d.images)) + self._eos for d in decoded]

    def collate(self, decoded: Sequence[qi.DecodedItem], role: Role = "document") -> TensorBatch:
        texts = self.prompts(decoded, role)
        images = [image for d in decoded for image in d.images] or None
        with self._lock:
            inputs = self.processor(text=texts, images=images, do_resize=False, padding=True,
                                    truncation=True, max_length=self.recipe.max_length,
                                    return_tensors="pt")
        if self.recipe.positions == "sequential":
            inputs["position_ids"] = vlm_images.positions(inputs["attention_mask"])
        return TensorBatch.of(inputs, len(decoded), self.device)

    def forward(self, batch: TensorBatch) -> Encoded:
        """Pooled (recipe) and, when the recipe says so, L2-normalised float32 vectors."""
        import torch

        inputs = to_device(batch.inputs, self.device)
        with torch.inference_mode():
            hidden = self.model(**inputs, use_cache=False).last_hidden_state.float()
            mask = inputs["attention_mask"]
            if self.recipe.pooling == "mean":
                m = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)
            else:  # last / eos: the last real token (eos: the EOS appended to every prompt)
                positions = torch.arange(mask.shape[1], device=mask.device)
                last = (mask.long() * positions).argmax(dim=1)
                pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
            if self.recipe.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        return Encoded(pooled.cpu().numpy().astype(np.float32, copy=False))

    def close(self) -> None:
        import torch

        self.model = None
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
