"""Building one embedder from a parsed spec: the family record's ``build`` (each imports its
backend only when used: torch, transformers, the HTTP client load on demand).

:mod:`mmindex.backends.registry` parses specs and caches what this builds, once per process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mmindex.backends.base import Embedder


def build(backend: str, model_id: str, device: str, cache_dir: Path | None,
          document_instruction: str | None, query_instruction: str | None,
          settings: Any) -> Embedder:
    """A new embedder of family ``backend`` for ``model_id`` (``tiny``: the offline twin)."""
    from mmindex.backends.family import Request, family

    return family(backend).build(Request(model_id, device, cache_dir, document_instruction,
                                         query_instruction, settings))


def options_key(backend: str, settings: Any) -> tuple:
    """The settings that change what a family loads (part of the load cache's key)."""
    from mmindex.backends.family import family

    if settings is None:
        return ()
    f = family(backend)
    return f.cache_key(settings) if f.cache_key else ()


@contextmanager
def quiet_loading() -> Iterator[None]:
    """No transformers progress bars meanwhile (the CLI prints its own progress and results,
    not "Loading weights" / "Writing model shards"); the previous state is restored."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()
