"""The content hash decides what is re-embedded: it must move exactly when the row would change."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mmindex.embed.contenthash import content_hash
from mmindex.items import Item

FP = {"model": "qwen3-vl-embedding-2b", "revision": "abc123", "dims": 2048, "max_pixels": 1 << 20}
ITEM = Item("q1", "삼각형의 넓이", ("s3://b/fig1.png", "s3://b/fig2.png"), "s3://b/clip.mp4",
            {"subject": "math", "year": 2021, "tags": ["geo"]})
BLOBS = {"s3://b/fig1.png": b"\x89PNG-one", "s3://b/fig2.png": b"\x89PNG-two",
         "s3://b/clip.mp4": b"mp4-bytes"}


def h(item: Item = ITEM, blobs: dict = BLOBS, fp: dict = FP) -> str:
    return content_hash(item, blobs, fp)


def test_stable_across_processes_and_key_order() -> None:
    code = (
        "from mmindex.embed.contenthash import content_hash; from mmindex.items import Item;"
        f"print(content_hash({ITEM!r}, {BLOBS!r}, {dict(reversed(FP.items()))!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout.strip()
    assert out == h()
    assert len(out) == 32 and int(out, 16) >= 0
    meta_reordered = Item(ITEM.id, ITEM.text, ITEM.images, ITEM.video,
                          dict(reversed(ITEM.metadata.items())))
    assert h(meta_reordered) == h()


def test_unchanged_when_only_the_id_or_media_location_changes() -> None:
    moved = {k.replace("s3://b/", "s3://new-bucket/"): v for k, v in BLOBS.items()}
    item = Item("other-id", ITEM.text, tuple(k for k in moved if k.endswith(".png")),
                "s3://new-bucket/clip.mp4", ITEM.metadata)
    assert h(item, moved) == h()


@pytest.mark.parametrize("change", [
    lambda i, b, f: (Item(i.id, i.text + " ", i.images, i.video, i.metadata), b, f),
    lambda i, b, f: (i, {**b, "s3://b/fig2.png": b"\x89PNG-twp"}, f),  # one byte
    lambda i, b, f: (i, b, {**f, "revision": "abc124"}),
    lambda i, b, f: (Item(i.id, i.text, i.images, i.video, {**i.metadata, "year": 2022}), b, f),
    lambda i, b, f: (Item(i.id, i.text, i.images[::-1], i.video, i.metadata), b, f),
    lambda i, b, f: (Item(i.id, i.text, i.images + (i.video,), None, i.metadata), b, f),
    lambda i, b, f: (Item(i.id, i.text, i.images, i.video, {**i.metadata, "year": "2021"}), b, f),
])
def test_changes_when_content_changes(change) -> None:
    assert h(*change(ITEM, BLOBS, FP)) != h()


def test_missing_blob_is_an_error() -> None:
    with pytest.raises(ValueError, match="fig2"):
        h(blobs={k: v for k, v in BLOBS.items() if "fig2" not in k})
