"""Building one embedder from a parsed spec: the family record's ``build`` (each imports its
backend only when used: torch, transformers, the HTTP client load on demand), after checking
that the optional modules the family needs (its ``needs``: the ``models`` extra) are installed.

:mod:`mmindex.backends.registry` parses specs and caches what this builds, once per process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mmindex.backends.base import Embedder
from mmindex.errors import installed, require


def needs(backend: str) -> tuple[str, ...]:
    """The optional modules family ``backend`` imports (none: numpy or HTTP backends)."""
    from mmindex.backends.family import families

    fam = families().get(backend)
    return fam.needs if fam is not None else ()


def build(backend: str, model_id: str, device: str, cache_dir: Path | None,
          document_instruction: str | None, query_instruction: str | None,
          settings: Any) -> Embedder:
    """A new embedder of family ``backend`` for ``model_id`` (``tiny``: the offline twin).

    Raises:
        ModelUnavailableError: the family's extra is not installed (the message names it).
    """
    from mmindex.backends.family import Request, family

    for module in needs(backend):
        require(module, f"the {backend} backend ({model_id})")
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
def quiet_loading(backend: str | None = None) -> Iterator[None]:
    """No transformers progress bars meanwhile (the CLI prints its own progress and results,
    not "Loading weights" / "Writing model shards"); the previous state is restored. A
    ``backend`` that does not use transformers (USE, e5-q4: numpy) does not import it: doing
    so only to silence it cost a cold `mmindex search` on a USE index ~1 s
    (docs/performance.md)."""
    if (backend is not None and "transformers" not in needs(backend)) \
            or not installed("transformers"):
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
