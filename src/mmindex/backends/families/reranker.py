"""Qwen3-VL-Reranker (two-stage search: ``--rerank``), not an embedder."""

from __future__ import annotations

from pathlib import Path

from mmindex.backends.family import Family, Model, Request

_TIV = ("text", "image", "video")


def _build(r: Request):
    from mmindex.backends.rerankers import load_reranker

    return load_reranker(r.model_id, device=r.device, cache_dir=r.cache_dir)


def _twin(out_dir: Path) -> Path:
    from mmindex.backends.twins.reranker import build_tiny_reranker

    return build_tiny_reranker(out_dir)


def _ensure(cache_dir: Path | None) -> Path:
    from mmindex.backends.twins.reranker import ensure_tiny_reranker

    return ensure_tiny_reranker(cache_dir)


def _like(hub_id: str, out_dir: Path) -> Path:
    from mmindex.backends.twins.like import finish_like, shard_weights, sharded_on_the_hub
    from mmindex.backends.twins.reranker import build_tiny_reranker

    out = build_tiny_reranker(out_dir)  # the twin has the released layout
    if sharded_on_the_hub(hub_id):
        shard_weights(out)
    return finish_like(out, hub_id)


FAMILY = Family(
    name="qwen3-vl-reranker", kind="reranker", build=_build,
    needs=("torch", "transformers", "qwen_vl_utils"), prefixes=("qwen3-vl-reranker",),
    hub_ids=("qwen/qwen3-vl-reranker-*", "*qwen3-vl-reranker*"),
    twin=_twin, ensure_twin=_ensure, like=_like,
    models=(
        Model("qwen3-vl-reranker-2b", "Qwen/Qwen3-VL-Reranker-2B", _TIV, 1),
        Model("qwen3-vl-reranker-8b", "Qwen/Qwen3-VL-Reranker-8B", _TIV, 1),
        Model("tiny-qwen3-vl-reranker", "tiny", _TIV, 1),
    ))
