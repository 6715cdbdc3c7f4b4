"""A mid-size random-weight Qwen3-VL-Embedding checkpoint for CPU throughput work.

:func:`mmindex.backends.twins.qwen3vl.build_tiny_model` builds the ``tiny`` and ``2b`` shapes only.
``tiny`` runs in milliseconds (preprocessing dominates, which says nothing about overlap) and
``2b`` at ~0.3 items/s on two CPU cores. The ``mid`` shape here sits between them: the same
structure (GQA, interleaved M-RoPE, DeepStack) at a size that runs at a few items/s on this CPU.

It is built with public API only: the tiny checkpoint (for its tokenizer, processor and chat
template files), then its ``config.json`` and weights are replaced by a model built from the
tiny config with the mid-size dimensions below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SHAPES: dict[str, dict[str, dict[str, Any]]] = {
    "mid": {
        "text": dict(hidden_size=384, intermediate_size=1152, num_hidden_layers=4,
                     num_attention_heads=6, num_key_value_heads=2, head_dim=64),
        "mrope_section": {"mrope_section": [12, 10, 10]},  # sums to head_dim / 2
        "vision": dict(depth=4, hidden_size=192, intermediate_size=768, num_heads=3,
                       out_hidden_size=384, deepstack_visual_indexes=[1, 2, 3]),
    },
}


def build_model(out_dir: Path, shape: str = "mid") -> Path:
    """Build the ``shape`` checkpoint into ``out_dir`` (deterministic; ~1-2 min on 2 cores)."""
    import torch
    from transformers import AutoModelForImageTextToText

    from mmindex.backends.twins.qwen3vl import SEED, build_tiny_model, model_config

    if shape == "tiny":
        return build_tiny_model(out_dir, "tiny")
    spec = SHAPES[shape]
    build_tiny_model(out_dir, "tiny")  # tokenizer, processors, chat template, notice
    config = model_config("tiny")
    for k, v in spec["text"].items():
        setattr(config.text_config, k, v)
    config.text_config.rope_parameters = {**config.text_config.rope_parameters,
                                          **spec["mrope_section"]}
    for k, v in spec["vision"].items():
        setattr(config.vision_config, k, v)
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out_dir, safe_serialization=True)
    return Path(out_dir)
