"""Offline random-weight checkpoints: the families' twins and the hub-layout look-alikes.

The twins, one module each, build a checkpoint with the released layout from the transformers
config at toy sizes: :mod:`~.qwen3vl` (Qwen3-VL-Embedding, also the ``2b`` shapes),
:mod:`~.reranker` (Qwen3-VL-Reranker), :mod:`~.qwen2vl` (the recipe-driven ``vlm`` path),
:mod:`~.colpali` (ColPali / ColQwen2) and :mod:`~.twotower` (CLIP / SigLIP). Every built folder
carries one mark, checked in one place (:mod:`~.marker`: :func:`is_built`), and is cached by
:func:`ensure_built`.

The look-alikes (``make-tiny-model --like HUB_ID``, :mod:`~.like`): each family record's ``like``
builds one with that hub repository's layout (from its twin, or :mod:`~.sentence_tf`,
:mod:`~.jina`); :func:`place_in_hf_cache` (:mod:`~.hfcache`) lays it out as a Hugging Face cache.
The builders import torch and transformers only when called.
"""

from mmindex.backends.twins.hfcache import place_in_hf_cache
from mmindex.backends.twins.like import build_like, catalogue_hub_ids
from mmindex.backends.twins.marker import MARKER, ensure_built, is_built, write_marker

__all__ = ["MARKER", "build_like", "catalogue_hub_ids", "ensure_built", "is_built",
           "place_in_hf_cache", "write_marker"]
