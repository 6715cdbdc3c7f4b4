"""mmindex: offline, nightly multimodal embedding into versioned LanceDB indexes.

Heavy dependencies (torch, transformers, lancedb) are imported lazily, so ``import mmindex`` and
``mmindex --help`` stay fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["open_index", "run_embed", "evaluate_index", "__version__"]


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
