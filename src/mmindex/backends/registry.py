"""The model specs users type (``--model SPEC``) and loading their embedders, once per process.

What a spec can be -- an alias, ``PREFIX:ID_OR_PATH``, a checkpoint folder or a hub id -- and
where each routes is decided by the family records (:mod:`mmindex.backends.family`, one module
per family under :mod:`mmindex.backends.families`); ``mmindex models`` lists the aliases and
prefixes, and ``mmindex models --resolve SPEC`` says where a spec routes and why.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmindex.backends.base import Embedder
from mmindex.backends.loaders import build, options_key, quiet_loading
from mmindex.backends.routing import AliasView, MultiVectorFamilies, resolve
from mmindex.errors import ConfigError, installed

#: alias -> (family, model id), derived from the family records (:mod:`.family`)
ALIASES = AliasView("embedder")
#: families whose tables also hold token vectors (``multivector`` column, MaxSim search)
MULTIVECTOR_BACKENDS = MultiVectorFamilies()


@dataclass(frozen=True)
class ModelSpec:
    """A parsed ``--model`` value."""

    spec: str
    backend: str
    model_id: str


def parse_spec(spec: str) -> ModelSpec:
    """Turn a user's model spec into (family, model id) without loading anything
    (:func:`mmindex.backends.family.resolve`; ``mmindex models --resolve`` shows why).

    Raises:
        ConfigError: nothing routes it, or it names a reranker (use it with ``--rerank``).
    """
    s = spec.strip()
    if s.lower() in _FACTORIES:
        return ModelSpec(s.lower(), "custom", s.lower())
    r = resolve(s)
    if r.kind != "embedder":
        raise ConfigError(f"{spec!r} is a {r.kind} ({r.family}, {r.why}), not an embedder. "
                          f"Help: use it in two-stage search: --rerank {spec}")
    return ModelSpec(r.spec, r.family, r.model_id)


def model_slug(spec: str) -> str:
    """Short model name for table names: the alias, or the last path/hub component."""
    ms = parse_spec(spec)
    return ms.spec if ms.spec == ms.spec.lower() and "/" not in ms.spec else Path(
        ms.model_id.rstrip("/")).name


_FACTORIES: dict[str, Callable[[], Embedder]] = {}


def register_backend(spec: str, factory: Callable[[], Embedder]) -> None:
    """Make ``--model SPEC`` build ``factory()`` (plug-in backends; tests use it for doubles)."""
    _FACTORIES[spec.lower()] = factory
    with _LOCK:
        for key in [k for k in _CACHE if k[0] == "custom" and k[1] == spec.lower()]:
            del _CACHE[key]


_LOCK = threading.Lock()  # transformers' lazy imports race when two threads load at once
_CACHE: dict[tuple, Embedder] = {}


def set_model_threads(n: int) -> None:
    """torch's intra-op threads for CPU models (process-wide; the GPU path is unaffected).
    Nothing to set without torch (the core install's models are numpy)."""
    if not installed("torch"):
        return
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def load_embedder(spec: str, *, device: str = "auto", cache_dir: Path | None = None,
                  document_instruction: str | None = None,
                  query_instruction: str | None = None, reuse: bool = True,
                  settings: Any = None) -> Embedder:
    """Load (once per process) the embedder for ``spec``.

    ``settings`` (a :class:`~mmindex.config.Settings`) carries what the remote-code and API
    backends need: ``trust_remote_code_dirs``, the Voyage key and URL, API timeouts.

    Raises:
        ConfigError: the spec is malformed.
        ModelUnavailableError: the weights cannot be had offline; the message says what to do.
    """
    if spec.lower() in _FACTORIES:
        key = ("custom", spec.lower())
        with _LOCK:
            if not reuse or key not in _CACHE:
                _CACHE[key] = _FACTORIES[spec.lower()]()
            return _CACHE[key]
    ms = parse_spec(spec)
    key = (ms.backend, ms.model_id, device, str(cache_dir), document_instruction, query_instruction,
           options_key(ms.backend, settings))
    with _LOCK:
        if reuse and key in _CACHE:
            return _CACHE[key]
        with quiet_loading(ms.backend):
            emb = build(ms.backend, ms.model_id, device, cache_dir, document_instruction,
                        query_instruction, settings)
        if reuse:
            _CACHE[key] = emb
        return emb
