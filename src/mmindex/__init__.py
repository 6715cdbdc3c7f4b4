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

from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _version

try:
    __version__ = _version("mmindex")
except _NotInstalled:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__", "evaluate_index", "open_index", "run_embed"]


def __getattr__(name: str):
    """Lazy public API: ``mmindex.open_index`` etc. import their modules on first use."""
    if name == "open_index":
        from mmindex.search import open_index

        return open_index
    if name == "run_embed":
        from mmindex.pipeline import run_embed

        return run_embed
    if name == "evaluate_index":
        from mmindex.evaluation.runner import evaluate_index

        return evaluate_index
    raise AttributeError(f"module 'mmindex' has no attribute {name!r}")
