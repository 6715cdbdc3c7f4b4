"""mmindex: offline, nightly multimodal embedding into versioned LanceDB indexes.

The stages, one subpackage each: :mod:`mmindex.extract` (items out of storage) ->
:mod:`mmindex.embed` (batches through a model from :mod:`mmindex.backends`) ->
:mod:`mmindex.index` (versioned LanceDB tables, production pointer) -> :mod:`mmindex.evaluation`
(golden sets, metrics, the promotion gate). :mod:`mmindex.pipeline` runs one embed run;
:mod:`mmindex.search` is the analysts' reader; :mod:`mmindex.cli` the command line.

Heavy dependencies (torch, transformers, lancedb) are imported lazily, so ``import mmindex`` and
``mmindex --help`` stay fast.
"""

from __future__ import annotations

import sys as _sys
from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _version

try:
    __version__ = _version("mmindex")
except _NotInstalled:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__", "evaluate_index", "gallery", "open_index", "register_lancedb",
           "run_embed"]


def __getattr__(name: str):
    """Lazy public API: ``mmindex.open_index`` etc. import their modules on first use."""
    if name == "open_index":
        from mmindex.search import open_index

        return open_index
    if name == "run_embed":
        from mmindex.pipeline import run_embed

        return run_embed
    if name == "gallery":
        from mmindex.search.gallery import gallery

        return gallery
    if name == "evaluate_index":
        from mmindex.evaluation.runner import evaluate_index

        return evaluate_index
    raise AttributeError(f"module 'mmindex' has no attribute {name!r}")


def register_lancedb() -> None:
    """Register the ``mmindex`` LanceDB embedding function, so plain LanceDB embeds a string
    query with an index's own model (:mod:`mmindex.search.lancefn`). ``import mmindex`` does it
    by itself as soon as ``lancedb`` is imported."""
    from mmindex.search.lancefn import register

    register()


class _RegisterOnImport:
    """A meta-path finder that registers the embedding function once ``lancedb`` is imported
    (importing lancedb here would slow every ``mmindex`` command by a second)."""

    def find_spec(self, name, path=None, target=None):
        if name != "lancedb":
            return None
        from importlib.util import find_spec

        _sys.meta_path.remove(self)
        spec = find_spec(name)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                _register_quietly()

            spec.loader.exec_module = exec_module
        return spec


def _register_quietly() -> None:
    try:
        register_lancedb()
    except Exception as exc:  # never break `import lancedb` itself
        import warnings

        warnings.warn(f"mmindex: could not register its LanceDB embedding function: {exc}",
                      stacklevel=2)


if "lancedb" in _sys.modules:
    _register_quietly()
elif not any(isinstance(f, _RegisterOnImport) for f in _sys.meta_path):
    _sys.meta_path.insert(0, _RegisterOnImport())
