"""Qwen3-VL-Embedding (2B / 8B, and the offline tiny twin)."""

from __future__ import annotations

from pathlib import Path

from mmindex.backends.family import Family, Model, Request

_TIV = ("text", "image", "video")
_MRL = (32, 64, 128, 256, 512, 1024)  # the report's sweep for 2B (1024 -> 512: -1.4 MRR)


def _build(r: Request):
    from mmindex.backends.qwen3vl import Qwen3VLEmbedder

    model_id = str(_ensure(r.cache_dir)) if r.model_id == "tiny" else r.model_id
    return Qwen3VLEmbedder(model_id, device=r.device, document_instruction=r.document_instruction,
                           query_instruction=r.query_instruction)


def _twin(out_dir: Path, shape: str = "tiny") -> Path:
    from mmindex.backends.twins.qwen3vl import build_tiny_model

    return build_tiny_model(out_dir, shape=shape)


def _ensure(cache_dir: Path | None) -> Path:
    from mmindex.backends.twins.qwen3vl import ensure_tiny_model

    return ensure_tiny_model(cache_dir)


def _like(hub_id: str, out_dir: Path) -> Path:
    from mmindex.backends.twins.like import finish_like, shard_weights, sharded_on_the_hub
    from mmindex.backends.twins.qwen3vl import build_tiny_model

    out = build_tiny_model(out_dir)  # the twin has the released layout
    if sharded_on_the_hub(hub_id):
        shard_weights(out)
    return finish_like(out, hub_id)


FAMILY = Family(
    name="qwen3-vl", build=_build,
    needs=("torch", "transformers", "qwen_vl_utils"), prefixes=("qwen3-vl",),
    model_types=("qwen3_vl",),
    hub_ids=("qwen/qwen3-vl-embedding-*", "*qwen3-vl*"),
    twin=_twin, ensure_twin=_ensure, like=_like,
    models=(
        Model("qwen3-vl-embedding-2b", "Qwen/Qwen3-VL-Embedding-2B", _TIV, 2048, _MRL),
        Model("qwen3-vl-embedding-8b", "Qwen/Qwen3-VL-Embedding-8B", _TIV, 4096, _MRL),
        Model("tiny-qwen3-vl", "tiny", _TIV, 64),  # random weights: nothing was trained
    ))
