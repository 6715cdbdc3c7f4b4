"""The one list of search modes and post-steps: the library, the CLI and the flows import it.

A mode string is a first stage and its post-steps, ``+``-joined: ``hybrid``, ``vector+rerank``,
``fts+rerank+diversify``. First stages:

- ``vector``: exact cosine over ``vector``; ``ann``: the vector index;
- ``fts``: BM25 over ``text`` and the Korean-analysed ``fts_text``;
- ``hybrid``: LanceDB's hybrid query with the version's fusion (:mod:`mmindex.index.fusion`);
- ``multivector``: MaxSim over a late-interaction model's token vectors;
- ``text-vector`` / ``image-vector`` / ``fused-vector``: exact cosine over a part vector column
  (:data:`PART_MODES`);
- ``vector:COLUMN``: exact cosine over any other vector column of the table (library only).

Post-steps (:data:`POST_STEPS`): ``rerank`` (Qwen3-VL-Reranker over the first stage's top N)
and ``diversify`` (k-means clusters of the top N, interleaved), in that order.

Nothing heavy is imported here: ``mmindex --help`` and the Prefect flow's signature read it.
"""

from __future__ import annotations

from typing import Any, Literal

from mmindex.errors import ConfigError

#: exact cosine over one of the part vector columns (tables embedded with part_vectors)
PART_MODES = {"text-vector": "vector_text", "image-vector": "vector_image",
              "fused-vector": "vector_fused"}
#: the first stages, in the order help texts list them
MODES = ("vector", "ann", "fts", "hybrid", "multivector", *PART_MODES)
POST_STEPS = ("rerank", "diversify")
#: every first stage with every allowed combination of post-steps (CLI choices, flow parameter)
MODE_CHOICES = tuple(f"{m}{p}" for m in MODES
                     for p in ("", "+rerank", "+diversify", "+rerank+diversify"))

Mode = Literal["vector", "ann", "fts", "hybrid", "multivector", "text-vector", "image-vector",
               "fused-vector"]
#: a mode with its post-steps, as a type (Prefect builds the flow parameter's choices from it)
ModeChoice = Literal[MODE_CHOICES]  # type: ignore[valid-type]


def parse_mode(mode: str) -> tuple[str, bool, bool]:
    """``(first stage, rerank?, diversify?)`` of a mode such as ``hybrid+rerank``.

    The first stage is checked by the search that runs it (``vector:COLUMN`` depends on the
    table).

    Raises:
        ConfigError: an unknown post-step, or one given twice.
    """
    base, *steps = mode.split("+")
    unknown = [s for s in steps if s not in POST_STEPS]
    if unknown or len(set(steps)) != len(steps):
        raise ConfigError(f"mode {mode!r}: post-steps are {' and '.join(POST_STEPS)}, each at "
                          "most once, e.g. hybrid+rerank+diversify")
    return base, "rerank" in steps, "diversify" in steps


def check_first_stage(base: str) -> None:
    """Raise a :class:`ConfigError` naming the modes when ``base`` is not a first stage."""
    if base not in MODES and not base.startswith("vector:"):
        raise ConfigError(f"mode {base!r}: use one of {', '.join(MODES)}, vector:COLUMN, "
                          "with +rerank / +diversify")


def default_mode(settings: Any) -> str:
    """Search's mode when none is given: the gate's (settings), hybrid without one."""
    return str((getattr(settings, "gate", None) or {}).get("mode") or "hybrid")
