"""What each model the registry knows can do: the data behind ``mmindex models``.

One row per spec (a new family adds rows, no code): its family, the inputs it embeds, whether it
stores several vectors per item (late interaction), its full output dimension, the Matryoshka
dimensions its card documents (truncate-and-renormalise keeps quality), and whether it is a
two-tower model (text and image towers apart: fused item vectors are on by default, see
:mod:`mmindex.backends.parts`). A spec in :data:`mmindex.backends.registry.ALIASES` without a row
here is still listed, its capabilities shown as unknown.
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


_T, _TI, _TIV = ("text",), ("text", "image"), ("text", "image", "video")
_QWEN_MRL = (32, 64, 128, 256, 512, 1024)  # the report's sweep for 2B (1024 -> 512: -1.4 MRR)

CATALOG: tuple[ModelInfo, ...] = (
    ModelInfo("all-minilm-l6-v2", "minilm", _T, 384),
    ModelInfo("multilingual-e5-small-q4", "e5", _T, 384),
    ModelInfo("use-multilingual", "use", _T, 512),
    ModelInfo("multilingual-e5-small", "e5", _T, 384),
    ModelInfo("multilingual-e5-base", "e5", _T, 768),
    ModelInfo("multilingual-e5-large", "e5", _T, 1024),
    ModelInfo("bge-m3", "bge-m3", _T, 1024),
    ModelInfo("qwen3-vl-embedding-2b", "qwen3-vl", _TIV, 2048, _QWEN_MRL),
    ModelInfo("qwen3-vl-embedding-8b", "qwen3-vl", _TIV, 4096, _QWEN_MRL),
    ModelInfo("tiny-qwen3-vl", "qwen3-vl", _TIV, 64),  # random weights: nothing was trained
    ModelInfo("clip-vit-b-32", "clip", _TI, 512, two_tower=True),
    ModelInfo("clip-vit-l-14", "clip", _TI, 768, two_tower=True),
    ModelInfo("siglip-base", "siglip", _TI, 768, two_tower=True),
    ModelInfo("siglip-base-multilingual", "siglip", _TI, 768, two_tower=True),
    ModelInfo("siglip-so400m", "siglip", _TI, 1152, two_tower=True),
    ModelInfo("tiny-clip", "clip", _TI, 24, two_tower=True),
    ModelInfo("tiny-siglip", "siglip", _TI, 32, two_tower=True),
    ModelInfo("colpali-v1.3", "colpali", _TI, 128, multi_vector=True),
    ModelInfo("colqwen2-v1.0", "colqwen2", _TI, 128, multi_vector=True),
    ModelInfo("tiny-colpali", "colpali", _TI, 32, multi_vector=True),
    ModelInfo("tiny-colqwen2", "colqwen2", _TI, 32, multi_vector=True),
    ModelInfo("vlm2vec-qwen2vl-2b", "vlm (recipe)", _TI, 1536),
    ModelInfo("gme-qwen2-vl-2b", "vlm (recipe)", _TI, 1536),
    ModelInfo("tiny-qwen2-vl", "vlm (recipe)", _TI, 64),
    ModelInfo("jina-clip-v2", "jina", _TI, 1024, (64, 128, 256, 512, 768)),
    ModelInfo("jina-embeddings-v4", "jina", _TI, 2048, (128, 256, 512, 1024)),
    ModelInfo("voyage-multimodal-3", "voyage (API)", _TI, 1024),
    ModelInfo("hash", "test double", _TIV, 32),
)

BY_SPEC = {row.spec: row for row in CATALOG}


def info(spec: str) -> ModelInfo | None:
    """The catalogue row of ``spec`` (None for specs it has no row for)."""
    return BY_SPEC.get(spec.lower())


def model_rows() -> list[dict]:
    """Every spec the registry knows (its aliases, then catalogue rows without an alias), with
    its backend, model id and capabilities (``None`` where the catalogue has no row)."""
    from mmindex.backends.registry import ALIASES

    specs = list(ALIASES) + [r.spec for r in CATALOG if r.spec not in ALIASES]
    rows = []
    for spec in specs:
        backend, model_id = ALIASES.get(spec, ("?", "?"))
        row = info(spec)
        supports = list(row.modalities) + (["multi-vector"] if row.multi_vector else []) \
            if row else ["?"]
        rows.append({"spec": spec, "backend": backend, "model_id": model_id,
                     "family": row.family if row else backend, "supports": supports,
                     "full_dims": row.full_dims if row else None,
                     "matryoshka": list(row.matryoshka) if row else None,
                     "multi_vector": row.multi_vector if row else None,
                     "two_tower": row.two_tower if row else None})
    return rows
