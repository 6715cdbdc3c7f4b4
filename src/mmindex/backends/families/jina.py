"""jina-clip-v2 / jina-embeddings-v4: their own modelling code, from allowed folders only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmindex.backends.family import Family, Model, Request

_TI = ("text", "image")


def _settings(s: Any) -> Any:
    if s is None:
        from mmindex.config import Settings

        return Settings()
    return s


def _build(r: Request):
    from mmindex.backends.jina import JinaEmbedder

    return JinaEmbedder(r.model_id, allowed_dirs=_settings(r.settings).trust_remote_code_dirs,
                        device=r.device)


def _key(settings: Any) -> tuple:
    return () if settings is None else tuple(settings.trust_remote_code_dirs)


def _like(hub_id: str, out_dir: Path) -> Path:
    from mmindex.backends.twins.jina import build_jina_like
    from mmindex.backends.twins.like import finish_like

    return finish_like(build_jina_like(hub_id, out_dir), hub_id)


def _like_needs(hub_id: str) -> tuple[str, ...]:
    from mmindex.backends.twins.jina import needs

    return needs(hub_id)


FAMILY = Family(
    name="jina", build=_build, needs=("torch", "transformers"),
    prefixes=("jina",), model_types=("jina_clip",),
    architectures=("JinaCLIPModel", "JinaEmbeddingsV4Model"), hub_ids=("jinaai/jina-*",),
    cache_key=_key, like=_like, like_needs=_like_needs, models=(
        Model("jina-clip-v2", "jinaai/jina-clip-v2", _TI, 1024, (64, 128, 256, 512, 768)),
        Model("jina-embeddings-v4", "jinaai/jina-embeddings-v4", _TI, 2048,
              (128, 256, 512, 1024)),
    ))
