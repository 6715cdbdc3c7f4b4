"""Generic VLM embedders driven by a recipe file (VLM2Vec and GME on Qwen2-VL, any recipe)."""

from __future__ import annotations

from pathlib import Path

from mmindex.backends.family import Family, Model, Request

_TI = ("text", "image")


def _build(r: Request):
    from mmindex.backends.vlm import VLMEmbedder

    model_id, _, recipe = r.model_id.partition("#")
    if model_id == "tiny":
        model_id = str(_ensure(r.cache_dir))
    return VLMEmbedder(model_id, recipe=recipe or None, device=r.device,
                       document_instruction=r.document_instruction,
                       query_instruction=r.query_instruction)


def _twin(out_dir: Path) -> Path:
    from mmindex.backends.twins.qwen2vl import build_tiny_qwen2vl

    return build_tiny_qwen2vl(out_dir)


def _ensure(cache_dir: Path | None) -> Path:
    from mmindex.backends.twins.qwen2vl import ensure_tiny_qwen2vl

    return ensure_tiny_qwen2vl(cache_dir)


def _like(hub_id: str, out_dir: Path) -> Path:
    """The twin in a hub repository's layout: the processor files of a pre-5 save, and no
    ``embedding_recipe.toml`` (the shipped recipe that lists the id applies, as to the real one)."""
    from mmindex.backends.twins import like
    from mmindex.backends.twins.qwen2vl import build_tiny_qwen2vl

    out = build_tiny_qwen2vl(out_dir)
    like.released_processor_files(out)
    like.hub_tokenizer_files(out)
    if like.sharded_on_the_hub(hub_id):
        like.shard_weights(out)
    return like.finish_like(out, hub_id, drop=("embedding_recipe.toml",
                                               "video_preprocessor_config.json"))


def _recipe_models() -> tuple[str, ...]:
    """The hub ids the shipped recipes name in their ``models`` lists."""
    from mmindex.backends.vlm_recipe import load_recipe, shipped_recipe_path, shipped_recipes

    return tuple(m for name in shipped_recipes()
                 for m in load_recipe(shipped_recipe_path(name)).models)


def _detail(model_id: str) -> str:
    from mmindex.backends.vlm_recipe import load_recipe, shipped_recipe_path, shipped_recipes

    base, _, explicit = model_id.partition("#")
    if explicit:
        return f"recipe {explicit}"
    folder = Path(base)
    if (folder / "embedding_recipe.toml").is_file():
        return f"recipe {folder / 'embedding_recipe.toml'}"
    for name in shipped_recipes():
        if base in load_recipe(shipped_recipe_path(name)).models:
            return f"recipe {name}"
    return "recipe: none known (name one: vlm:ID#RECIPE)"


FAMILY = Family(
    name="vlm", build=_build,
    needs=("torch", "transformers", "qwen_vl_utils"), prefixes=("vlm",), label="vlm (recipe)",
    architectures=("Qwen2VLForConditionalGeneration",), folder_files=("embedding_recipe.toml",),
    extra_hub_ids=_recipe_models, detail=_detail, twin=_twin, ensure_twin=_ensure, like=_like,
    models=(
        Model("vlm2vec-qwen2vl-2b", "TIGER-Lab/VLM2Vec-Qwen2VL-2B", _TI, 1536,
              label="vlm (recipe)"),
        Model("gme-qwen2-vl-2b", "Alibaba-NLP/gme-Qwen2-VL-2B-Instruct", _TI, 1536,
              label="vlm (recipe)"),
        Model("tiny-qwen2-vl", "tiny", _TI, 64, label="vlm (recipe)"),
    ))
