"""ColPali and ColQwen2: multi-vector late interaction (token vectors + a pooled vector)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from mmindex.backends.family import Family, Model, Request

_TI = ("text", "image")


def _build(name: str, r: Request):
    from mmindex.backends.colpali import LateInteractionEmbedder

    model_id = str(_ensure(name, r.cache_dir)) if r.model_id == "tiny" else r.model_id
    return LateInteractionEmbedder(model_id, device=r.device)


def _twin(name: str, out_dir: Path) -> Path:
    from mmindex.backends.twins.colpali import build_tiny_late_interaction

    return build_tiny_late_interaction(out_dir, name)


def _ensure(name: str, cache_dir: Path | None) -> Path:
    from mmindex.backends.twins.colpali import ensure_tiny_late_interaction

    return ensure_tiny_late_interaction(name, cache_dir)


def _like(name: str, hub_id: str, out_dir: Path) -> Path:
    from mmindex.backends.twins.colpali import build_tiny_late_interaction
    from mmindex.backends.twins.like import (
        finish_like,
        hub_tokenizer_files,
        released_processor_files,
    )

    if not hub_id.lower().endswith("-hf"):
        from mmindex.errors import ConfigError

        raise ConfigError(f"--like {hub_id}: only the transformers-native layout (the -hf "
                          "repositories) is built, not colpali-engine's adapter. Help: use "
                          f"{hub_id}-hf if it exists (e.g. vidore/{name}-v1.x-hf).")
    out = build_tiny_late_interaction(out_dir, name)
    released_processor_files(out)
    if name == "colqwen2":  # Qwen2's BPE files (ColPali's Gemma tokenizer is not BPE on the hub)
        hub_tokenizer_files(out)
    return finish_like(out, hub_id)


def _family(name: str, model_type: str, arch: str, rows: tuple[Model, ...]) -> Family:
    return Family(name=name, build=partial(_build, name),
                  needs=("torch", "transformers"), prefixes=(name,),
                  model_types=(model_type,), architectures=(arch,),
                  hub_ids=(f"vidore/{name}*", f"*/{name}*"), multi_vector=True,
                  twin=partial(_twin, name), ensure_twin=partial(_ensure, name),
                  like=partial(_like, name), models=rows)


FAMILIES = (
    _family("colpali", "colpali", "ColPaliForRetrieval", (
        Model("colpali-v1.3", "vidore/colpali-v1.3-hf", _TI, 128),
        Model("tiny-colpali", "tiny", _TI, 32))),
    _family("colqwen2", "colqwen2", "ColQwen2ForRetrieval", (
        Model("colqwen2-v1.0", "vidore/colqwen2-v1.0-hf", _TI, 128),
        Model("tiny-colqwen2", "tiny", _TI, 32))),
)
