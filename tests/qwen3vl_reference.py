"""An independent, plain-transformers rendition of the published Qwen3-VL-Embedding recipe.

Used only by tests, as the yardstick for :mod:`mmindex.backends.qwen3vl`. It follows the
reference ``Qwen3VLEmbedder.process`` step by step (file paths in the conversation, one
``process_vision_info`` call over the whole batch, flip/argmax last-token pooling) and shares no
code with the library. Two deliberate differences from the published code: fp32 on CPU, and the
transformers 5.x video prompt fix (the reference pins transformers 4.57, whose prompt this
reproduces).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_INSTRUCTION = "Represent the user's input."
FACTOR = 32


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
        prompts = [p.replace("<|vision_start|><|video_pad|><|vision_end|>", "<|video_pad|>")
                   for p in prompts]
        images, video_inputs, video_kwargs = process_vision_info(
            conversations, image_patch_size=16, return_video_metadata=True,
            return_video_kwargs=True)
        videos = metadata = None
        if video_inputs is not None:
            videos, metadata = (list(v) for v in zip(*video_inputs, strict=True))
        batch = self.processor(text=prompts, images=images, videos=videos,
                               video_metadata=metadata, truncation=True, max_length=8192,
                               padding=True, do_resize=False, return_tensors="pt",
                               **video_kwargs)
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"]
        last = mask.shape[1] - mask.flip(dims=[1]).argmax(dim=1) - 1
        pooled = hidden[torch.arange(hidden.shape[0]), last]
        return F.normalize(pooled, p=2, dim=-1).numpy()
