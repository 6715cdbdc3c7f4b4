"""HashEmbedder: the deterministic test double behaves like a backend and records its calls."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mmindex.backends.base import LoadedItem
from mmindex.backends.fake import HashEmbedder
from mmindex.errors import ItemError
from mmindex.items import Item


def png(w: int = 8, h: int = 6, color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, format="PNG")
    return buf.getvalue()


def embed(emb: HashEmbedder, loaded: list[LoadedItem], role: str = "document") -> np.ndarray:
    return emb.forward(emb.collate([emb.decode(x) for x in loaded], role)).vectors


def text(i: str, t: str) -> LoadedItem:
    return LoadedItem(Item(id=i, text=t))


def test_same_content_same_vector_and_shared_words_are_closer():
    emb = HashEmbedder()
    v = embed(emb, [text("a", "binary circuits count backwards"),
                    text("b", "binary circuits count backwards"),
                    text("c", "binary circuits count forwards"),
                    text("d", "british computer society report")])
    assert v.shape == (4, 32) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(v[0], v[1])
    assert v[0] @ v[2] > v[0] @ v[3]
    # a fresh instance (another process, another night) gives the same vectors
    again = embed(HashEmbedder(), [text("x", "binary circuits count backwards")])
    assert np.array_equal(again[0], v[0])


def test_image_bytes_change_the_vector():
    emb = HashEmbedder()
    red = LoadedItem(Item(id="r", text="figure 1", images=("/d/a.png",)), blobs={"/d/a.png": png()})
    blue = LoadedItem(Item(id="b", text="figure 1", images=("/d/a.png",)),
                      blobs={"/d/a.png": png(color="blue")})
    v = embed(emb, [red, blue, text("t", "figure 1")])
    assert not np.allclose(v[0], v[1]) and not np.allclose(v[0], v[2])
    assert emb.estimate_cost(red).pixels == 48 and emb.estimate_cost(red).tokens > 16


def test_records_forward_calls_and_items_so_reembedding_is_visible():
    emb = HashEmbedder()
    embed(emb, [text("a", "one"), text("b", "two")])
    embed(emb, [text("c", "three")])
    assert emb.forward_calls == 2 and emb.items_seen == 3
    assert list(emb.embedded_ids) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("loaded", "reason"),
    [
        (LoadedItem(Item(id="e", text="   ")), "empty_item"),
        (LoadedItem(Item(id="m", images=("/d/x.png",))), "missing_media"),
        (LoadedItem(Item(id="z", images=("/d/x.png",)), blobs={"/d/x.png": b""}), "corrupt_media"),
        (LoadedItem(Item(id="c", images=("/d/x.png",)), blobs={"/d/x.png": b"not a png"}),
         "corrupt_media"),
        (LoadedItem(Item(id="t", images=("/d/x.png",)), blobs={"/d/x.png": png()[:40]}),
         "corrupt_media"),
    ],
)
def test_bad_items_raise_item_error_with_reason(loaded, reason):
    with pytest.raises(ItemError) as info:
        HashEmbedder().decode(loaded)
    assert info.value.reason == reason and info.value.item_id == loaded.item.id
    assert "Help:" in str(info.value)


def test_video_bytes_are_hashed_without_decoding():
    emb = HashEmbedder()
    loaded = LoadedItem(Item(id="v", video="/d/clip.mp4"), blobs={"/d/clip.mp4": b"\x00\x01fake"})
    v = embed(emb, [loaded])
    assert v.shape == (1, 32) and abs(float(np.linalg.norm(v[0])) - 1.0) < 1e-6
