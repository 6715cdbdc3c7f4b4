"""Offline random-weight twins of the catalogue's checkpoints (tests, smoke runs, throughput).

One module per twin, each building a checkpoint with the released layout from the transformers
config at toy sizes: :mod:`~.qwen3vl` (Qwen3-VL-Embedding, also the ``2b`` shapes),
:mod:`~.reranker` (Qwen3-VL-Reranker), :mod:`~.qwen2vl` (the recipe-driven ``vlm`` path),
:mod:`~.colpali` (ColPali / ColQwen2) and :mod:`~.twotower` (CLIP / SigLIP). Every built folder
carries one mark, checked in one place (:mod:`~.marker`: :func:`is_built`), and is cached by
:func:`ensure_built`. The builders import torch and transformers only when called.
"""

from mmindex.backends.twins.marker import MARKER, ensure_built, is_built, write_marker

__all__ = ["MARKER", "ensure_built", "is_built", "write_marker"]
