"""CLIP and SigLIP: two-tower models (text -> image search; fused item vectors by default)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from mmindex.backends.family import Family, Model, Request

_TI = ("text", "image")


def _build(name: str, r: Request):
    from mmindex.backends.twotower import TwoTowerEmbedder

    model_id = str(_ensure(name, r.cache_dir)) if r.model_id == "tiny" else r.model_id
    return TwoTowerEmbedder(name, model_id, device=r.device)


def _twin(name: str, out_dir: Path) -> Path:
    from mmindex.backends.twins.twotower import build_tiny_two_tower

    return build_tiny_two_tower(out_dir, name)


def _ensure(name: str, cache_dir: Path | None) -> Path:
    from mmindex.backends.twins.twotower import ensure_tiny_two_tower

    return ensure_tiny_two_tower(name, cache_dir)


def _like(name: str, hub_id: str, out_dir: Path) -> Path:
    from mmindex.backends.twins.like import (
        finish_like,
        hub_tokenizer_files,
        released_processor_files,
    )
    from mmindex.backends.twins.twotower import build_tiny_two_tower

    out = build_tiny_two_tower(out_dir, name)
    released_processor_files(out)
    hub_tokenizer_files(out)
    return finish_like(out, hub_id)


def _family(name: str, arch: str, rows: tuple[Model, ...]) -> Family:
    return Family(name=name, build=partial(_build, name),
                  needs=("torch", "transformers"), prefixes=(name,),
                  model_types=(name,), architectures=(arch,),
                  hub_ids=(f"*{name}*",), twin=partial(_twin, name),
                  ensure_twin=partial(_ensure, name), like=partial(_like, name), models=rows)


def _row(spec: str, model_id: str, dims: int) -> Model:
    return Model(spec, model_id, _TI, dims, two_tower=True)


FAMILIES = (
    _family("clip", "CLIPModel", (
        _row("clip-vit-b-32", "openai/clip-vit-base-patch32", 512),
        _row("clip-vit-l-14", "openai/clip-vit-large-patch14", 768),
        _row("tiny-clip", "tiny", 24))),
    _family("siglip", "SiglipModel", (
        _row("siglip-base", "google/siglip-base-patch16-224", 768),
        _row("siglip-base-multilingual", "google/siglip-base-patch16-256-multilingual", 768),
        _row("siglip-so400m", "google/siglip-so400m-patch14-384", 1152),
        _row("tiny-siglip", "tiny", 32))),
)
