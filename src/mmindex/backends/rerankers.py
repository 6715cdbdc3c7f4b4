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

The tiny twin (:mod:`mmindex.backends.twins.reranker`) is the tiny Qwen3-VL with its own
``lm_head`` (untied, another seed): its scores mean nothing, but the whole scoring path runs.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from mmindex.backends.routing import AliasView
from mmindex.errors import ConfigError, ModelUnavailableError, require

#: alias -> hub id (``tiny``: the offline twin), from the reranker family's record
RERANKERS = AliasView("reranker", values="id")

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
                path = str(_ensure_tiny(cache_dir)) if model_id == "tiny" else model_id
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


def _ensure_tiny(cache_dir: str | os.PathLike[str] | None) -> Path:
    from mmindex.backends.twins.reranker import ensure_tiny_reranker

    return ensure_tiny_reranker(cache_dir)
