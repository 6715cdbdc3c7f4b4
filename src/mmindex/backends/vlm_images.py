"""The ``vlm`` backend's image steps, in the order its recipe names them.

1. ``[first_resize] size = [w, h]``: every image to ``w`` x ``h`` (aspect ratio not kept), with
   PIL's default filter and in the image's own mode (VLM2Vec's evaluation: 1344 x 1344).
2. The alpha channel: ``alpha = "white"`` composites RGBA on white (qwen-vl-utils); ``"drop"``
   is PIL's ``convert("RGB")`` (GME's ``fetch_image`` and the transformers 4.5x processors).
3. ``[first_resize] min_pixels / max_pixels``: qwen-vl-utils' rule (sides multiples of 28, the
   pixels within the bounds) with these bounds first (GME's own ``fetch_image``, 3,136 to
   12,845,056), before
4. the same rule with the recipe's ``min_pixels`` / ``max_pixels`` (the processor's resize).

The processor then runs with ``do_resize=False`` on the result.
"""

from __future__ import annotations

from typing import Any

from mmindex.backends.vlm_recipe import Recipe
from mmindex.errors import ItemError

PATCH = 14
FACTOR = 28  # patch 14 x spatial merge 2


def prepare(image: Any, recipe: Recipe, ref: str, item_id: str) -> Any:
    """A decoded PIL image -> the RGB pixels the processor gets (steps 1-4 above).

    Raises:
        ItemError: ``unsupported_format`` for an aspect ratio over 200:1.
    """
    from qwen_vl_utils import fetch_image

    if recipe.first_size:
        image = image.resize(recipe.first_size)
    if recipe.alpha == "drop":
        image = image.convert("RGB")
    bounds = [recipe.first_pixels] if recipe.first_pixels else []
    try:
        for low, high in [*bounds, (recipe.min_pixels, recipe.max_pixels)]:
            image = fetch_image({"image": image, "min_pixels": low, "max_pixels": high},
                                image_patch_size=PATCH)
    except ValueError as exc:  # aspect ratio over 200:1 (smart_resize)
        raise ItemError("unsupported_format", f"{ref}: {exc}. Help: crop the image.",
                        item_id) from exc
    return image


def final_size(height: int, width: int, recipe: Recipe) -> tuple[int, int]:
    """The (height, width) :func:`prepare` gives an image of this size."""
    from qwen_vl_utils.vision_process import smart_resize

    if recipe.first_size:
        width, height = recipe.first_size
    if recipe.first_pixels:
        height, width = smart_resize(height, width, factor=FACTOR,
                                     min_pixels=recipe.first_pixels[0],
                                     max_pixels=recipe.first_pixels[1])
    return smart_resize(height, width, factor=FACTOR, min_pixels=recipe.min_pixels,
                        max_pixels=recipe.max_pixels)


def positions(attention_mask: Any) -> Any:
    """``positions = "sequential"``: 0, 1, 2, ... for every token, image tokens too, in all three
    M-RoPE rows (what transformers < 4.52 gave GME's ``Qwen2VLModel`` call, and what a bare
    ``<|image_pad|>`` without ``<|vision_start|>`` gave VLM2Vec's ``get_rope_index``)."""
    import torch

    batch, length = attention_mask.shape
    return torch.arange(length).view(1, 1, -1).expand(3, batch, -1).contiguous()
