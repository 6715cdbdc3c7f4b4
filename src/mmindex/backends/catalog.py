"""What each model the registry knows can do: the data behind ``mmindex models``.

One row per alias, read from the family records (:mod:`mmindex.backends.family`; a new family is
one module with its rows): its family, the inputs it embeds, whether it stores several vectors
per item (late interaction), its full output dimension, the Matryoshka dimensions its card
documents (truncate-and-renormalise keeps quality), and whether it is a two-tower model (text and
image towers apart: fused item vectors are on by default, see :mod:`mmindex.backends.parts`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ModelInfo:
    """One row of the catalogue.

    Attributes:
        spec: what users type (``--model SPEC``); a registry alias.
        family: the model family (``qwen3-vl``, ``clip``, ``siglip``, ``e5``...).
        modalities: inputs it embeds, of ``text``, ``image``, ``video``.
        full_dims: output dimension before truncation.
        matryoshka: dimensions it may be truncated to (empty: not trained for it).
        multi_vector: one vector per token/patch (late interaction) besides or instead of one.
        two_tower: separate text and image towers (CLIP-like).
    """

    spec: str
    family: str
    modalities: tuple[str, ...]
    full_dims: int
    matryoshka: tuple[int, ...] = ()
    multi_vector: bool = False
    two_tower: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def catalog() -> tuple[ModelInfo, ...]:
    """Every catalogue row, from the family records (embedders only)."""
    from mmindex.backends.family import families

    return tuple(
        ModelInfo(m.spec, m.label or f.label or f.name, m.modalities, m.full_dims, m.matryoshka,
                  f.multi_vector, m.two_tower)
        for f in families().values() if f.kind == "embedder" for m in f.models)


def info(spec: str) -> ModelInfo | None:
    """The catalogue row of ``spec`` (None for specs it has no row for)."""
    return next((row for row in catalog() if row.spec == spec.lower()), None)


def model_rows() -> list[dict]:
    """Every alias the families declare, with its family, model id and capabilities."""
    from mmindex.backends.family import families

    rows = []
    for f in families().values():
        if f.kind != "embedder":
            continue
        for m in f.models:
            rows.append({"spec": m.spec, "backend": f.name, "model_id": m.model_id,
                         "family": m.label or f.label or f.name,
                         "supports": list(m.modalities) + (["multi-vector"] if f.multi_vector
                                                           else []),
                         "full_dims": m.full_dims, "matryoshka": list(m.matryoshka),
                         "multi_vector": f.multi_vector, "two_tower": m.two_tower})
    return rows
