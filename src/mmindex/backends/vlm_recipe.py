"""Embedding recipes: how a generic VLM embedder turns an item into a vector, as data.

A recipe is a small TOML file (``backends/recipes/*.toml`` ships some; a model folder may hold
its own ``embedding_recipe.toml``). Keys::

    name = "gme-qwen2-vl"
    models = ["Alibaba-NLP/gme-Qwen2-VL-2B-Instruct"]   # hub ids it is the recipe of
    architecture = "qwen2-vl"                   # qwen2-vl | qwen2.5-vl (the base model class)
    template = "...{instruction}...{images}...{text}..."   # the whole prompt, as a string
    [templates]                                 # optional: per content kind, over `template`
    text = "..."; image = "..."; image_text = "..."
    image_placeholder = "<|vision_start|><|image_pad|><|vision_end|>"  # one per image
    image_separator = ""                        # between placeholders of several images
    pooling = "last"                            # last | mean | eos
    normalize = true                            # L2
    max_length = 1800                           # tokens (longer text is truncated)
    min_pixels = 3136; max_pixels = 1003520     # resize bounds (sides multiples of 28)
    positions = "mrope"                         # mrope | sequential (1-D, image tokens too)
    alpha = "white"                             # white (composite RGBA) | drop (convert RGB)
    [first_resize]                              # optional, before the bounds above:
    size = [1344, 1344]                         #   every image to width x height, or
    min_pixels = 3136; max_pixels = 12845056    #   the same rule with these bounds
    [instructions]
    document = "..."; query = "..."

Pooling: ``last`` is the hidden state of the last real token (attention mask), ``eos`` appends
the tokenizer's EOS token to every prompt and pools it, ``mean`` averages the real tokens.
Which recipe a model gets, first found: the spec's ``#RECIPE`` (a shipped name or a .toml path),
the folder's ``embedding_recipe.toml``, the shipped recipe listing the hub id in ``models``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmindex.backends.qwen3vl_inputs import PIXEL_CAP, check_pixel_limits
from mmindex.errors import ConfigError, ModelUnavailableError

RECIPES_DIR = Path(__file__).parent / "recipes"
FOLDER_RECIPE = "embedding_recipe.toml"
ARCHITECTURES = {"qwen2-vl": "Qwen2VLModel", "qwen2.5-vl": "Qwen2_5_VLModel"}
POOLINGS = ("last", "mean", "eos")
KINDS = ("text", "image", "image_text")
_KEYS = {"name", "models", "architecture", "template", "templates", "image_placeholder",
         "image_separator", "pooling", "normalize", "max_length", "min_pixels", "max_pixels",
         "instructions", "source", "notes", "positions", "alpha", "first_resize"}
POSITIONS = ("mrope", "sequential")
ALPHAS = ("white", "drop")


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe (see the module docstring for the keys)."""

    name: str
    architecture: str
    templates: dict[str, str]
    instructions: dict[str, str]
    image_placeholder: str
    image_separator: str = ""
    pooling: str = "last"
    normalize: bool = True
    max_length: int = 8192
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 1280 * 28 * 28
    positions: str = "mrope"
    alpha: str = "white"
    first_size: tuple[int, int] | None = None
    first_pixels: tuple[int, int] | None = None
    models: tuple[str, ...] = ()
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def prompt(self, role: str, text: str | None, images: int) -> str:
        """The prompt of one item: the template of its content kind, filled in."""
        kind = "image_text" if images and text else "image" if images else "text"
        placeholders = self.image_separator.join([self.image_placeholder] * images)
        return self.templates[kind].format(instruction=self.instructions[role],
                                           images=placeholders, text=text or "")

    def fingerprint(self) -> dict[str, Any]:
        return {"recipe": self.name, "templates": self.templates,
                "instructions": self.instructions, "image_placeholder": self.image_placeholder,
                "image_separator": self.image_separator, "pooling": self.pooling,
                "normalize": self.normalize, "max_length": self.max_length,
                "min_pixels": self.min_pixels, "max_pixels": self.max_pixels,
                # only when not the default: the recipes written before these keys keep their
                # fingerprints (their vectors did not change)
                **{k: list(v) if isinstance(v, tuple) else v for k, v in (
                    ("positions", self.positions), ("alpha", self.alpha),
                    ("first_size", self.first_size), ("first_pixels", self.first_pixels))
                   if v != Recipe.__dataclass_fields__[k].default}}


def shipped_recipe_path(name: str) -> Path:
    return RECIPES_DIR / f"{name}.toml"


def shipped_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def load_recipe(path: str | Path) -> Recipe:
    """Parse and check one recipe file.

    Raises:
        ConfigError: unreadable, unknown keys, a bad pooling/architecture, a template that does
            not render.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"recipe {path}: cannot read it ({exc}). Help: fix the TOML.") from None
    bad = sorted(set(data) - _KEYS)
    if bad:
        raise ConfigError(f"recipe {path}: unknown keys {bad}. Help: see docs/model-families.md.")
    per_kind = data.get("templates", {})
    templates = {k: (per_kind.get(k, data.get("template")) if isinstance(per_kind, dict) else
                     None) for k in KINDS}
    problems = [f"no template for {k} items" for k, v in templates.items() if not v]
    problems += [f"{k} must be a string" for k, v in templates.items() if v and
                 not isinstance(v, str)]
    if data.get("architecture") not in ARCHITECTURES:
        problems.append(f"architecture must be one of {', '.join(ARCHITECTURES)}")
    if data.get("pooling", "last") not in POOLINGS:
        problems.append(f"pooling must be one of {', '.join(POOLINGS)}")
    instructions = data.get("instructions", {})
    if not isinstance(instructions, dict) or set(instructions) != {"document", "query"}:
        problems.append("[instructions] needs exactly document and query")
    if not data.get("image_placeholder"):
        problems.append("image_placeholder is required")
    for key, allowed in (("positions", POSITIONS), ("alpha", ALPHAS)):
        if data.get(key, allowed[0]) not in allowed:
            problems.append(f"{key} must be one of {', '.join(allowed)}")
    if problems:
        raise ConfigError(f"recipe {path}: {'; '.join(problems)}. Help: see "
                          "docs/model-families.md for the keys.")
    try:
        recipe = Recipe(
            name=data.get("name", path.stem), architecture=data["architecture"],
            templates=templates, instructions=dict(instructions),
            image_placeholder=data["image_placeholder"],
            image_separator=data.get("image_separator", ""), pooling=data.get("pooling", "last"),
            normalize=bool(data.get("normalize", True)),
            max_length=_count(data, "max_length", 8192),
            min_pixels=_count(data, "min_pixels", 4 * 28 * 28),
            max_pixels=_count(data, "max_pixels", 1280 * 28 * 28),
            positions=data.get("positions", "mrope"), alpha=data.get("alpha", "white"),
            **_first_resize(data.get("first_resize", {})),
            models=tuple(data.get("models", ())), path=str(path))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"recipe {path}: {exc}. Help: see docs/model-families.md for the "
                          "keys and their types.") from None
    check_pixel_limits(data.get("min_pixels", recipe.min_pixels),
                       data.get("max_pixels", recipe.max_pixels), f"recipe {path}")
    if recipe.first_pixels:
        check_pixel_limits(*recipe.first_pixels, f"recipe {path} [first_resize]")
    try:
        for role in ("document", "query"):
            recipe.prompt(role, "x", 1), recipe.prompt(role, "x", 0), recipe.prompt(role, None, 2)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise ConfigError(f"recipe {path}: a template does not render ({exc!r}). Help: use "
                          "only {instruction}, {images} and {text}; write { as {{.") from None
    return recipe


def _first_resize(table: Any) -> dict[str, tuple[int, int] | None]:
    """``[first_resize]``: ``size = [w, h]`` or ``min_pixels`` and ``max_pixels``, not both."""
    if not isinstance(table, dict):
        raise ValueError("first_resize must be a table ([first_resize])")
    if not table:
        return {}
    if set(table) == {"size"} and isinstance(table["size"], list) and len(table["size"]) == 2:
        width, height = (_positive(v, "[first_resize] size") for v in table["size"])
        if width * height > PIXEL_CAP:
            raise ValueError(f"[first_resize] size {width}x{height} is over {PIXEL_CAP:,} pixels")
        return {"first_size": (width, height)}
    if set(table) == {"min_pixels", "max_pixels"}:
        return {"first_pixels": (_positive(table["min_pixels"], "[first_resize] min_pixels"),
                                 _positive(table["max_pixels"], "[first_resize] max_pixels"))}
    raise ValueError(f"[first_resize] {table!r}: give either size = [width, height] or "
                     "min_pixels and max_pixels")


def _count(data: dict[str, Any], key: str, default: int) -> int:
    """A positive integer value of the recipe (``max_length = "abc"`` is refused)."""
    return _positive(data.get(key, default), key)


def _positive(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} = {value!r} is not a positive integer")
    return value


def find_recipe(model_dir: Path, model_id: str, explicit: str | None = None) -> Recipe:
    """The recipe of a model (order in the module docstring).

    Raises:
        ConfigError: the named recipe does not exist or is invalid.
        ModelUnavailableError: no recipe is known for this model.
    """
    if explicit:
        path = Path(explicit).expanduser()
        if path.suffix == ".toml" and path.is_file():
            return load_recipe(path)
        if shipped_recipe_path(explicit).is_file():
            return load_recipe(shipped_recipe_path(explicit))
        raise ConfigError(f"no recipe {explicit!r}: neither a .toml file nor one of "
                          f"{', '.join(shipped_recipes())}.")
    if (model_dir / FOLDER_RECIPE).is_file():
        return load_recipe(model_dir / FOLDER_RECIPE)
    for name in shipped_recipes():
        recipe = load_recipe(shipped_recipe_path(name))
        if model_id in recipe.models:
            return recipe
    raise ModelUnavailableError(
        f"{model_id}: no embedding recipe. Help: put an {FOLDER_RECIPE} in the model folder, or "
        f"name one: --model 'vlm:{model_id}#RECIPE' with RECIPE one of "
        f"{', '.join(shipped_recipes())} or a .toml path (docs/model-families.md).")
