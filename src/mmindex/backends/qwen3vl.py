"""The ``qwen3-vl`` backend: Qwen3-VL-Embedding (2B/8B, or a tiny built checkpoint).

Follows the published recipe exactly (``/work/shared/reference/qwen3-vl-embedding.md``): a system
turn with the instruction, the user turn holding video, images, then text; qwen-vl-utils resizing
with patch 16; the processor with ``do_resize=False``; right padding; the base ``Qwen3VLModel``;
last-token pooling by attention mask; L2 normalisation.

The batch that :meth:`Qwen3VLEmbedder.collate` returns is a
:class:`~mmindex.backends.base.TensorBatch`; its ``num_tokens`` (real tokens, padding excluded)
and ``padded_tokens`` let the pipeline report tokens/s.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmindex.backends import media
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
from mmindex.backends.weights import (
    default_attention,
    locate_weights,
)
from mmindex.errors import ConfigError, ItemError, ModelUnavailableError
from mmindex.items import Cost

_VIDEO_BLOCK = "<|vision_start|><|video_pad|><|vision_end|>"


class Qwen3VLEmbedder(Embedder):
    """Qwen3-VL-Embedding over text, images and video.

    Args:
        model_id_or_path: A local checkpoint directory, or a hub id already in the HF cache.
        device: ``auto`` (cuda if available, else cpu), ``cpu``, ``cuda`` or ``cuda:N``.
        document_instruction: System instruction for documents (default "Represent the
            user's input.").
        query_instruction: System instruction for queries (default "Retrieve images or text
            relevant to the user's query.").
        max_length: Token limit per sequence (longer text is truncated, as in the recipe).
        min_pixels: Lower pixel bound of a resized image.
        max_pixels: Upper pixel bound of a resized image.
        video_fps: Frames sampled per second of video.
        video_max_frames: Most frames sampled from one video.
        attn_implementation: Override (``sdpa``, ``eager``, ``flash_attention_2``); default
            flash-attention 2 on GPU when ``flash_attn`` imports, else sdpa.

    Raises:
        ModelUnavailableError: the weights are not on this machine or cannot be loaded.
        ConfigError: a cuda device was asked for and there is none, or the limits are invalid.
    """

    backend = "qwen3-vl"
    modalities = frozenset({"text", "image", "video"})
    supports_parts = True  # text-only and visual-only variants (backends.qwen3vl_parts)

    def __init__(self, model_id_or_path: str, *, device: str = "auto",
                 document_instruction: str | None = None, query_instruction: str | None = None,
                 max_length: int = 8192, min_pixels: int = qi.MIN_PIXELS,
                 max_pixels: int = qi.MAX_PIXELS, video_fps: float = 1.0,
                 video_max_frames: int = 64, attn_implementation: str | None = None):

        qi.check_pixel_limits(min_pixels, max_pixels, f"Qwen3-VL {model_id_or_path}")
        if not (0 < min_pixels <= max_pixels and max_length > 0 and video_fps > 0
                and video_max_frames >= 2):
            raise ConfigError(
                f"invalid Qwen3-VL limits (min_pixels={min_pixels}, max_pixels={max_pixels}, "
                f"max_length={max_length}, video_fps={video_fps}, "
                f"video_max_frames={video_max_frames}). Help: need 0 < min_pixels <= max_pixels, "
                "max_length > 0, video_fps > 0 and video_max_frames >= 2.")
        self.model_id = model_id_or_path
        self.model_dir, self.revision = locate_weights(model_id_or_path)
        self.device = resolve_device(device)
        on_gpu = self.device.startswith("cuda")
        self.dtype = compute_dtype(self.device)
        self.attn_implementation = attn_implementation or default_attention(on_gpu)
        self.instructions = {
            "document": qi.normalize_instruction(document_instruction, qi.DOCUMENT_INSTRUCTION),
            "query": qi.normalize_instruction(query_instruction, qi.QUERY_INSTRUCTION),
        }
        self.max_length, self.min_pixels, self.max_pixels = max_length, min_pixels, max_pixels
        self.max_tokens = max_length
        self.video_fps, self.video_max_frames = video_fps, video_max_frames
        self._lock = threading.Lock()  # one tokenizer shared by the preprocessing threads
        try:
            from transformers import AutoProcessor, Qwen3VLModel

            self.processor = AutoProcessor.from_pretrained(str(self.model_dir),
                                                           padding_side="right")
            self.processor.tokenizer.padding_side = "right"
            self.model = Qwen3VLModel.from_pretrained(
                str(self.model_dir), dtype=self.dtype,
                attn_implementation=self.attn_implementation).to(self.device).eval()
        except (OSError, ValueError, KeyError) as exc:
            raise ModelUnavailableError(
                f"cannot load Qwen3-VL from {self.model_dir}: {exc}. Help: the directory must be "
                "a complete Qwen3-VL-Embedding checkpoint (config.json, *.safetensors, tokenizer "
                "and processor files); re-copy it.") from exc
        self.full_dims = int(self.model.config.text_config.hidden_size)
        # Template tokens around the content (system turn, role tags), for cost estimates.
        empty = self._render([qi.DecodedItem("", None)], "document")[0]
        self._overhead = len(self.processor.tokenizer(empty)["input_ids"])

    def fingerprint(self) -> dict[str, Any]:
        """Model (hub id, or a local directory's name), revision (hub commit, else a content
        hash of config and weights), dtype, instructions, pixel/video limits, max_length."""
        local = self.model_dir.name if Path(self.model_id).expanduser().is_dir() else None
        return {
            "backend": self.backend, "model": local or self.model_id, "revision": self.revision,
            "dtype": str(self.dtype).removeprefix("torch."), "instructions": self.instructions,
            "min_pixels": self.min_pixels, "max_pixels": self.max_pixels,
            "image_patch_size": qi.PATCH, "video_fps": self.video_fps,
            "video_max_frames": self.video_max_frames, "max_length": self.max_length,
        }

    def estimate_cost(self, loaded: LoadedItem) -> Cost:
        """Tokens and resized pixels from text length, image headers and video metadata.

        Never raises for bad media (that is :meth:`decode`'s job): unreadable media count as
        the smallest image.
        """
        from PIL import Image

        item = loaded.item
        tokens, pixels = self._overhead, 0
        if item.text.strip():
            with self._lock:  # shared fast tokenizer: one caller at a time
                tokens += len(self.processor.tokenizer(item.text)["input_ids"])
        for ref in item.images:
            try:
                with Image.open(io.BytesIO(media.media_bytes(loaded, ref))) as image:
                    width, height = image.size  # header only, no pixel decode
                t, p = qi.image_tokens(height, width, self.min_pixels, self.max_pixels)
            except Exception:
                t, p = qi.image_tokens(1, 1, self.min_pixels, self.min_pixels)
            tokens, pixels = tokens + t, pixels + p
        if item.video:
            try:
                path = media.local_path(item.video)
                blob = None if path else media.media_bytes(loaded, item.video)
                meta = media.probe_video(item.video, blob, path, item.id)
                t, p = qi.video_tokens(meta, self.video_fps, self.video_max_frames)
            except Exception:
                t, p = 0, 0
            tokens, pixels = tokens + t, pixels + p
        return Cost(tokens=min(tokens, self.max_length), pixels=pixels)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` with the chat template's overhead, not truncated."""
        with self._lock:
            return self._overhead + len(self.processor.tokenizer(text)["input_ids"])

    def decode(self, loaded: LoadedItem) -> qi.DecodedItem:
        """Decode and resize the item's media from ``loaded.blobs`` (images in order, video).

        Raises:
            ItemError: ``empty_item``, ``missing_media``, ``corrupt_media``,
                ``unsupported_format`` or ``media_too_large``.
        """
        item = loaded.item
        require_content(item)
        out = qi.DecodedItem(item.id, item.text if item.text.strip() else None)
        for ref in item.images:
            image = qi.decode_image(ref, media.media_bytes(loaded, ref), item.id,
                                    self.min_pixels, self.max_pixels)
            out.images.append(image)
            out.visual_tokens += (image.height // qi.FACTOR) * (image.width // qi.FACTOR) + 2
        if item.video:
            frames, meta = qi.decode_video(item.video, loaded, self.video_fps,
                                           self.video_max_frames)
            out.video = (frames, meta)
            _, _, h, w = frames.shape
            out.visual_tokens += qi.frame_group_tokens(
                meta["frames_indices"], meta["fps"], (h // qi.FACTOR) * (w // qi.FACTOR))
        if out.visual_tokens + self._overhead > self.max_length:
            # Truncation would cut through visual tokens and break the whole batch.
            raise ItemError("media_too_large", f"{out.visual_tokens} visual tokens exceed "
                            f"max_length {self.max_length}. Help: lower max_pixels or use fewer "
                            "images per item.", item.id)
        return out

    def _render(self, decoded: Sequence[qi.DecodedItem], role: Role) -> list[str]:
        system = [{"type": "text", "text": self.instructions[role]}]
        conversations = []
        for d in decoded:
            content = ([{"type": "video"}] if d.video is not None else []) + \
                [{"type": "image"} for _ in d.images] + \
                ([{"type": "text", "text": d.text}] if d.text is not None else [])
            conversations.append([{"role": "system", "content": system},
                                  {"role": "user", "content": content}])
        texts = self.processor.apply_chat_template(conversations, add_generation_prompt=True,
                                                   tokenize=False)
        # transformers 5 wraps each frame group in its own start/end pair: drop the outer pair
        # to get the prompt of the reference (pinned to transformers 4.57).
        return [t.replace(_VIDEO_BLOCK, "<|video_pad|>") for t in texts]

    def collate(self, decoded: Sequence[qi.DecodedItem], role: Role = "document") -> TensorBatch:
        """Chat template with the role's instruction, then the processor (CPU tensors)."""
        if role not in self.instructions:
            raise ConfigError(f"unknown role {role!r}. Help: use 'document' or 'query'.")
        texts = self._render(decoded, role)
        images = [image for d in decoded for image in d.images] or None
        videos = [d.video[0] for d in decoded if d.video is not None] or None
        metadata = [dict(d.video[1]) for d in decoded if d.video is not None] or None
        with self._lock:
            inputs = self.processor(
                text=texts, images=images, videos=videos, video_metadata=metadata,
                do_resize=False, do_sample_frames=False, padding=True, truncation=True,
                max_length=self.max_length, return_tensors="pt",
                # frames are already resized: this only silences a transformers 5 warning
                **({"cap_pixels_per_frame": True} if videos else {}))
        return TensorBatch.of(inputs, len(decoded), self.device)

    def forward(self, batch: TensorBatch) -> Encoded:
        """Last-token pooled, L2-normalised ``(n, full_dims)`` float32 vectors; for a
        :meth:`collate_parts` batch also the part vectors (:mod:`.qwen3vl_parts`).

        CUDA out-of-memory propagates: the pipeline splits the batch.
        """
        from mmindex.backends.qwen3vl_parts import Qwen3VLPartsBatch, forward_parts

        if isinstance(batch, Qwen3VLPartsBatch):
            return forward_parts(self.pooled, batch)
        return Encoded(self.pooled(batch))

    def pooled(self, batch: TensorBatch) -> np.ndarray:
        """The model run of :meth:`forward`: ``(n, full_dims)`` float32, L2-normalised."""
        import torch

        inputs = to_device(batch.inputs, self.device)
        with torch.inference_mode():
            hidden = self.model(**inputs, use_cache=False).last_hidden_state
            mask = inputs["attention_mask"]
            positions = torch.arange(mask.shape[1], device=mask.device)
            last = (mask.long() * positions).argmax(dim=1)  # last position whose mask is 1
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last].float()
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        return pooled.cpu().numpy().astype(np.float32, copy=False)

    def collate_parts(self, decoded: Sequence[qi.DecodedItem], role: Role = "document") -> Any:
        from mmindex.backends.qwen3vl_parts import collate_parts

        return collate_parts(self.collate, decoded, role)

    def close(self) -> None:
        import torch

        self.model = None
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
