"""The content hash: one digest that changes exactly when an item's row must be rewritten.

What is hashed (BLAKE2b, 16-byte digest, hex), in this order, each part framed as
``name-length (4 bytes) | name | payload-length (8 bytes) | payload`` (big-endian) so that no two
different inputs can produce the same byte stream:

1. ``version``: the encoding version (:data:`HASH_VERSION`).
2. ``fingerprint``: the embedder fingerprint as canonical JSON (sorted keys, no spaces,
   UTF-8). Any change of model, revision, instruction or resize rule re-embeds everything.
   With ``ocr`` on, an item with images is hashed with the OCR engine, languages and mode in its
   fingerprint (``embed/group.py``): turning OCR on re-embeds those items, and no others.
3. ``text``: the item's text, UTF-8.
4. ``image:0``, ``image:1``, ...: the bytes of each image, in order; then ``video`` with the
   video's bytes. The position and kind are in the frame name, so reordering images or moving a
   file from image to video changes the hash.
5. ``metadata``: the metadata as canonical JSON, so a metadata-only change rewrites the row.

Not hashed: the item id (it is the row key) and the media *references* (paths/URIs): moving
files to another bucket with the same bytes does not re-embed anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from mmindex.items import Item

HASH_VERSION = "mmindex-content-v1"


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, compact separators, UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def content_hash(item: Item, blobs: Mapping[str, bytes], fingerprint: Mapping[str, Any]) -> str:
    """Hex digest of everything that determines an item's stored row (see module docstring).

    Args:
        item: The item.
        blobs: Bytes of every reference in ``item.media``
            (from :func:`mmindex.extract.media.read_blobs`).
        fingerprint: The embedder's fingerprint (JSON-able).

    Raises:
        ValueError: A media reference of ``item`` has no bytes in ``blobs``.
    """
    h = hashlib.blake2b(digest_size=16)

    def part(name: str, payload: bytes) -> None:
        label = name.encode("utf-8")
        h.update(len(label).to_bytes(4, "big"))
        h.update(label)
        h.update(len(payload).to_bytes(8, "big"))
        h.update(payload)

    def blob(ref: str) -> bytes:
        try:
            return blobs[ref]
        except KeyError:
            raise ValueError(f"no bytes for media {ref!r} of item {item.id!r}") from None

    part("version", HASH_VERSION.encode())
    part("fingerprint", canonical_json(dict(fingerprint)))
    part("text", item.text.encode("utf-8"))
    for i, ref in enumerate(item.images):
        part(f"image:{i}", blob(ref))
    if item.video:
        part("video", blob(item.video))
    part("metadata", canonical_json(item.metadata))
    return h.hexdigest()
