"""The deterministic ``hash`` test double (no model, no weights)."""

from __future__ import annotations

from mmindex.backends.family import Family, Model, Request


def _build(r: Request):
    from mmindex.backends.fake import HashEmbedder

    return HashEmbedder()


FAMILY = Family(
    name="hash", build=_build, prefixes=("hash",), label="test double",
    weights_note="no weights (test double)",
    models=(Model("hash", "hash", ("text", "image", "video"), 32, label="test double"),))
