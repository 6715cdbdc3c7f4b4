"""The Qwen3-VL-Reranker backend: scores (query, document) pairs for two-stage search.

Follows the public reference (QwenLM/Qwen3-VL-Embedding, ``src/models/qwen3_vl_reranker.py``):

- a system turn ``Judge whether the Document meets the requirements ...`` and one user turn
  holding ``<Instruct>: {instruction}``, ``<Query>:``, the query's video, images and text,
  ``\\n<Document>:``, the document's video, images and text (the instruction is used as given:
  unlike the embedder's, no "." is appended);
- images resized by qwen-vl-utils' rules (patch 16, 4,096-1,843,200 pixels), videos at 1 fps,
  at most 64 frames; the processor then runs with ``do_resize=False``;
- no truncation by the tokenizer: a sequence over ``max_length`` (10,240) keeps every special
  token (vision pads included) and the first non-special tokens, then the 5 closing tokens;
- left padding; score = sigmoid(h_last . (W_yes - W_no)) with h_last the base model's last
  hidden state and W the language-model head's rows of the tokens ``yes`` and ``no``.

Two deliberate differences: an empty query or document is refused (the reference scores the text
"NULL"), and pairs are scored in batches (the reference scores one pair at a time; with left
padding the scores agree, ``tests/test_reranker.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmindex.backends import media
from mmindex.backends import qwen3vl_inputs as qi
from mmindex.backends.base import LoadedItem, require_content
from mmindex.backends.device import compute_dtype, resolve_device
from mmindex.backends.loaders import quiet_loading
from mmindex.backends.weights import default_attention, locate_weights
from mmindex.errors import ConfigError, ItemError, ModelUnavailableError
from mmindex.items import Item

SYSTEM = ('Judge whether the Document meets the requirements based on the Query and the Instruct '
          'provided. Note that the answer can only be "yes" or "no".')
INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."
MAX_LENGTH = 10240
TAIL = 5  # "<|im_end|>\n<|im_start|>assistant\n": kept whole when a pair is truncated
_VIDEO_BLOCK = "<|vision_start|><|video_pad|><|vision_end|>"


@dataclass
class RerankBatch:
    """Model inputs of one batch of pairs (CPU tensors)."""

    inputs: dict[str, Any]
    size: int


class Qwen3VLReranker:
    """Qwen3-VL-Reranker over text, images and video.

    Args:
        model_id_or_path: A local checkpoint directory, or a hub id already in the HF cache.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        instruction: The ``<Instruct>`` text (default: the reference's retrieval instruction).
        max_length: Token limit of one (query, document) pair.
        batch_size: Pairs per forward pass.

    Raises:
        ModelUnavailableError: the weights are not on this machine or cannot be loaded.
    """

    backend = "qwen3-vl-reranker"

    def __init__(self, model_id_or_path: str, *, device: str = "auto",
                 instruction: str | None = None, max_length: int = MAX_LENGTH,
                 min_pixels: int = qi.MIN_PIXELS, max_pixels: int = qi.MAX_PIXELS,
                 video_fps: float = 1.0, video_max_frames: int = 64, batch_size: int = 8,
                 attn_implementation: str | None = None):

        qi.check_pixel_limits(min_pixels, max_pixels, "the Qwen3-VL reranker")
        if max_length <= TAIL + 2 or batch_size < 1 or not 0 < min_pixels <= max_pixels:
            raise ConfigError(f"invalid reranker limits (max_length={max_length}, batch_size="
                              f"{batch_size}, min_pixels={min_pixels}, max_pixels={max_pixels})."
                              " Help: max_length > 7, batch_size >= 1, 0 < min <= max pixels.")
        self.model_id = model_id_or_path
        self.model_dir, self.revision = locate_weights(model_id_or_path)
        self.device = resolve_device(device)
        on_gpu = self.device.startswith("cuda")
        self.dtype = compute_dtype(self.device)
        # as given, as the reference does (no strip: a trailing space moved a logit by 0.29)
        self.instruction = instruction or INSTRUCTION
        self.max_length, self.batch_size = max_length, batch_size
        self.min_pixels, self.max_pixels = min_pixels, max_pixels
        self.video_fps, self.video_max_frames = video_fps, video_max_frames
        self._lock = threading.Lock()
        try:
            from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

            self.processor = AutoProcessor.from_pretrained(str(self.model_dir),
                                                           padding_side="left")
            self.processor.tokenizer.padding_side = "left"
            with quiet_loading():
                lm = Qwen3VLForConditionalGeneration.from_pretrained(
                    str(self.model_dir), dtype=self.dtype,
                    attn_implementation=attn_implementation or default_attention(on_gpu))
            vocab = self.processor.tokenizer.get_vocab()
            head = lm.lm_head.weight.detach()
            # One row instead of the 151,936-row head: the score only needs yes minus no.
            self.score_weight = (head[vocab["yes"]] - head[vocab["no"]]).to(self.device)
            self.model = lm.model.to(self.device).eval()
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            raise ModelUnavailableError(
                f"cannot load Qwen3-VL-Reranker from {self.model_dir}: {exc}. Help: the directory "
                "must be a complete Qwen3-VL-Reranker checkpoint (config.json, *.safetensors with "
                "the lm_head, tokenizer and processor files); re-copy it.") from exc
        self._specials = set(self.processor.tokenizer.all_special_ids)

    def fingerprint(self) -> dict[str, Any]:
        local = self.model_dir.name if Path(self.model_id).expanduser().is_dir() else None
        return {"backend": self.backend, "model": local or self.model_id,
                "revision": self.revision, "dtype": str(self.dtype).removeprefix("torch."),
                "instruction": self.instruction, "max_length": self.max_length}

    def decode(self, item: Item, blobs: dict[str, bytes] | None = None) -> qi.DecodedItem:
        """Decode and resize a query's or a document's media (bytes from ``blobs``, else the
        local files).

        Raises:
            ItemError: ``empty_item``, ``missing_media``, ``corrupt_media``,
                ``unsupported_format`` or ``media_too_large``.
        """
        require_content(item)
        loaded = LoadedItem(item, dict(blobs or {}))
        out = qi.DecodedItem(item.id, item.text if item.text.strip() else None)
        for ref in item.images:
            out.images.append(qi.decode_image(ref, media.media_bytes(loaded, ref), item.id,
                                              self.min_pixels, self.max_pixels))
        if item.video:
            out.video = qi.decode_video(item.video, loaded, self.video_fps, self.video_max_frames)
        return out

    def _content(self, d: qi.DecodedItem, prefix: str) -> list[dict[str, Any]]:
        return ([{"type": "text", "text": prefix}]
                + ([{"type": "video"}] if d.video is not None else [])
                + [{"type": "image"} for _ in d.images]
                + ([{"type": "text", "text": d.text}] if d.text is not None else []))

    def collate(self, query: qi.DecodedItem, docs: Sequence[qi.DecodedItem]) -> RerankBatch:
        """The pairs' prompts through the processor, truncated like the reference, left-padded."""
        import torch

        instruct = {"type": "text", "text": "<Instruct>: " + self.instruction}
        conversations = [[
            {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {"role": "user", "content": [instruct, *self._content(query, "<Query>:"),
                                         *self._content(d, "\n<Document>:")]},
        ] for d in docs]
        texts = self.processor.apply_chat_template(conversations, add_generation_prompt=True,
                                                   tokenize=False)
        texts = [t.replace(_VIDEO_BLOCK, "<|video_pad|>") for t in texts]  # see qwen3vl.py
        pairs = [(query, d) for d in docs]
        images = [im for pair in pairs for x in pair for im in x.images] or None
        vids = [x.video for pair in pairs for x in pair if x.video is not None]
        with self._lock:
            enc = self.processor(
                text=texts, images=images, videos=[v[0] for v in vids] or None,
                video_metadata=[dict(v[1]) for v in vids] or None, do_resize=False,
                do_sample_frames=False, padding=False, truncation=False,
                **({"cap_pixels_per_frame": True} if vids else {}))
        keep = [self._kept(ids) for ids in enc["input_ids"]]
        width = max(len(k) for k in keep)
        per_token = [key for key in ("input_ids", "mm_token_type_ids") if key in enc]
        inputs: dict[str, Any] = {k: v for k, v in enc.items()
                                  if k not in (*per_token, "attention_mask")}
        pad = {"input_ids": self.processor.tokenizer.pad_token_id, "mm_token_type_ids": 0}
        for key in per_token:
            inputs[key] = torch.tensor([[pad[key]] * (width - len(k)) + [enc[key][i][j] for j in k]
                                        for i, k in enumerate(keep)], dtype=torch.long)
        inputs["attention_mask"] = torch.tensor([[0] * (width - len(k)) + [1] * len(k)
                                                 for k in keep], dtype=torch.long)
        return RerankBatch(inputs, len(docs))

    def _kept(self, ids: Sequence[int]) -> list[int]:
        """Positions kept of one pair: all when it fits; else every special token of the body,
        its first non-special tokens up to the budget, and the closing :data:`TAIL`."""
        n = len(ids)
        if n <= self.max_length:
            return list(range(n))
        body = range(n - TAIL)
        budget = self.max_length - sum(1 for i in body if ids[i] in self._specials)
        kept = []
        for i in body:
            if ids[i] in self._specials:
                kept.append(i)
            elif budget > 0:
                kept.append(i)
                budget -= 1
        return kept + list(range(n - TAIL, n))

    def forward(self, batch: RerankBatch) -> list[float]:
        """Relevance in [0, 1] of each pair, in order."""
        import torch

        from mmindex.backends.device import to_device

        inputs = to_device(batch.inputs, self.device)
        with torch.inference_mode():
            last = self.model(**inputs, use_cache=False).last_hidden_state[:, -1]
            scores = torch.sigmoid(last @ self.score_weight.to(last.dtype))
        return [float(s) for s in scores.float().cpu()]

    def score(self, query: Item, documents: Sequence[Item],
              blobs: dict[str, bytes] | None = None) -> list[float]:
        """Scores of ``documents`` for ``query`` (higher is more relevant), in order.

        Raises:
            ItemError: the query or a document is empty or has unreadable media (the error
                names it); use :meth:`score_each` to score the others anyway.
        """
        q = self.decode(query, blobs)
        docs = [self.decode(d, blobs) for d in documents]
        out: list[float] = []
        for i in range(0, len(docs), self.batch_size):
            out += self.forward(self.collate(q, docs[i:i + self.batch_size]))
        return out

    def score_each(self, query: Item, documents: Sequence[Item],
                   blobs: dict[str, bytes] | None = None,
                   ) -> tuple[list[float | None], dict[str, str]]:
        """Like :meth:`score`, but a document that cannot be read gets ``None`` and its
        ``{id: "reason: message"}``; the query's own errors still raise."""
        q = self.decode(query, blobs)
        decoded: list[qi.DecodedItem | None] = []
        errors: dict[str, str] = {}
        for d in documents:
            try:
                decoded.append(self.decode(d, blobs))
            except ItemError as exc:
                decoded.append(None)
                errors[d.id] = str(exc)
        good = [d for d in decoded if d is not None]
        scores: list[float] = []
        for i in range(0, len(good), self.batch_size):
            scores += self.forward(self.collate(q, good[i:i + self.batch_size]))
        it = iter(scores)
        return [None if d is None else next(it) for d in decoded], errors

    def close(self) -> None:
        self.model = None
