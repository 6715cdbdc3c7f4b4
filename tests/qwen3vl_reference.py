"""An independent, plain-transformers rendition of the published Qwen3-VL-Embedding recipe.

Used only by tests, as the yardstick for :mod:`mmindex.backends.qwen3vl` (and, for the prompt,
the reranker's test). It follows the official ``Qwen3VLEmbedder`` (QwenLM/Qwen3-VL-Embedding,
``src/models/qwen3_vl_embedding.py``) step by step -- the instruction rule of its
``format_model_input``, file paths in the conversation, one ``process_vision_info`` call over the
whole batch, flip/argmax last-token pooling -- and shares no code or rule with the library.

The official code pins transformers 4.57.3, whose ``Qwen3VLProcessor`` writes the prompt's
placeholders; transformers 5 writes video differently (it keeps the template's outer
``<|vision_start|>``/``<|vision_end|>`` around its per-frame blocks). So the placeholders are
expanded here by the 4.57.3 processor's rule, and the text tokenised by the tokenizer alone:
an image's ``<|image_pad|>`` becomes ``grid_t*grid_h*grid_w / merge**2`` pads; a video's
``<|vision_start|><|video_pad|><|vision_end|>`` becomes, per temporal patch (2 frames), ``<T
seconds>`` (the mean of its first and last frame's time, one decimal; an odd frame count repeats
the last index) then ``<|vision_start|>``, ``grid_h*grid_w / merge**2`` pads, ``<|vision_end|>``.
The image and video processors (``do_resize=False``) give the pixels. Deliberate difference
from the published code: fp32 on CPU.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_INSTRUCTION = "Represent the user's input."
FACTOR = 32
VIDEO = "<|vision_start|><|video_pad|><|vision_end|>"  # the chat template's video placeholder


class ReferenceEmbedder:
    def __init__(self, model_dir: str | Path):
        from transformers import Qwen3VLModel, Qwen3VLProcessor

        self.processor = Qwen3VLProcessor.from_pretrained(str(model_dir), padding_side="right")
        self.model = Qwen3VLModel.from_pretrained(str(model_dir), dtype=torch.float32).eval()

    @staticmethod
    def conversation(text=None, images=(), video=None, instruction=None) -> list[dict]:
        if instruction:
            instruction = instruction.strip()
            if instruction and not unicodedata.category(instruction[-1]).startswith("P"):
                instruction += "."
        content: list[dict] = []
        if video:
            content.append({"type": "video", "video": "file://" + str(video), "fps": 1.0,
                            "max_frames": 64})
        for image in images:
            content.append({"type": "image", "image": "file://" + str(image),
                            "min_pixels": 4 * FACTOR * FACTOR,
                            "max_pixels": 1800 * FACTOR * FACTOR})
        if text is not None:
            content.append({"type": "text", "text": text})
        return [
            {"role": "system", "content": [{"type": "text",
                                            "text": instruction or DEFAULT_INSTRUCTION}]},
            {"role": "user", "content": content},
        ]

    @torch.no_grad()
    def embed(self, inputs: list[dict]) -> np.ndarray:
        """``inputs``: dicts with optional text, images (paths), video (path), instruction."""
        from qwen_vl_utils import process_vision_info

        conversations = [self.conversation(**x) for x in inputs]
        prompts = self.processor.apply_chat_template(conversations, add_generation_prompt=True,
                                                     tokenize=False)
        images, video_inputs, video_kwargs = process_vision_info(
            conversations, image_patch_size=16, return_video_metadata=True,
            return_video_kwargs=True)
        batch, prompts = reference_inputs(self.processor, prompts, images, video_inputs,
                                          video_kwargs)
        text = self.processor.tokenizer(prompts, truncation=True, max_length=8192, padding=True,
                                        return_tensors="pt")
        batch.update(input_ids=text["input_ids"], attention_mask=text["attention_mask"],
                     mm_token_type_ids=mm_token_types(self.processor, text["input_ids"]))
        hidden = self.model(**batch).last_hidden_state
        mask = text["attention_mask"]
        last = mask.shape[1] - mask.flip(dims=[1]).argmax(dim=1) - 1
        pooled = hidden[torch.arange(hidden.shape[0]), last]
        return F.normalize(pooled, p=2, dim=-1).numpy()


def reference_inputs(processor, prompts: list[str], images, video_inputs,
                     video_kwargs: dict) -> tuple[dict, list[str]]:
    """The pixels (image and video processors, ``do_resize=False``) and the prompts with their
    placeholders expanded by transformers 4.57.3's ``Qwen3VLProcessor`` rule."""
    merge = processor.image_processor.merge_size
    batch: dict = {}
    image_grid = video_grid = ()
    metadata: list[dict] = []
    if images is not None:
        batch.update(processor.image_processor(images=images, do_resize=False,
                                               return_tensors="pt"))
        image_grid = batch["image_grid_thw"].tolist()
    if video_inputs is not None:
        videos, metadata = (list(v) for v in zip(*video_inputs, strict=True))
        batch.update(processor.video_processor(videos=videos, video_metadata=metadata,
                                               do_resize=False, return_tensors="pt",
                                               **video_kwargs))
        batch.pop("video_metadata", None)
        video_grid = batch["video_grid_thw"].tolist()
    images_left, videos_left = iter(image_grid), iter(zip(video_grid, metadata, strict=True))
    out = []
    for prompt in prompts:
        while "<|image_pad|>" in prompt:
            t, h, w = next(images_left)
            prompt = prompt.replace("<|image_pad|>", "<|IMG|>" * (t * h * w // merge ** 2), 1)
        while VIDEO in prompt:
            (t, h, w), meta = next(videos_left)
            times = frame_times(list(meta["frames_indices"]), float(meta["fps"]))
            assert len(times) == t
            frame = "<|vision_start|>" + "<|VID|>" * (h * w // merge ** 2) + "<|vision_end|>"
            prompt = prompt.replace(VIDEO, "".join(f"<{s:.1f} seconds>" + frame
                                                   for s in times), 1)
        out.append(prompt.replace("<|IMG|>", "<|image_pad|>").replace("<|VID|>", "<|video_pad|>"))
    return batch, out


def frame_times(indices: list[int], fps: float, per_patch: int = 2) -> list[float]:
    """Seconds of each temporal patch: the mean of its first and last frame's time."""
    if len(indices) % per_patch:
        indices = indices + [indices[-1]] * (per_patch - len(indices) % per_patch)
    seconds = [i / fps for i in indices]
    return [(seconds[i] + seconds[i + per_patch - 1]) / 2
            for i in range(0, len(seconds), per_patch)]


def mm_token_types(processor, input_ids: torch.Tensor) -> torch.Tensor:
    """What transformers 5's model reads to place M-RoPE positions (4.57 read the ids): 1 on
    image pads, 2 on video pads, 0 elsewhere."""
    vocab = processor.tokenizer.get_vocab()
    types = torch.zeros_like(input_ids)
    types[input_ids == vocab["<|image_pad|>"]] = 1
    types[input_ids == vocab["<|video_pad|>"]] = 2
    return types
