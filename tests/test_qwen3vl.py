"""The qwen3-vl backend against an independent rendition of the published recipe (tiny model)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from qwen3vl_reference import ReferenceEmbedder

from mmindex.backends.base import LoadedItem, truncate_normalize
from mmindex.errors import ItemError, ModelUnavailableError
from mmindex.items import Item

EXACT = 0.999999  # fp32 on CPU: faithful implementations agree to ~1e-7


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import av
    from PIL import Image

    root = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(7)
    paths = {
        "photo": root / "photo.png",  # 300x400 RGB noise
        "small": root / "small.png",  # 60x90 RGBA: composited on white, scaled up to min pixels
        "large": root / "large.jpg",  # 900x1200
    }
    Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(paths["photo"])
    Image.fromarray(rng.integers(0, 255, (90, 60, 4), dtype=np.uint8), "RGBA").save(paths["small"])
    Image.fromarray(rng.integers(0, 255, (900, 1200, 3), dtype=np.uint8)).save(paths["large"])
    paths["video"] = root / "clip.mp4"  # 3 s at 4 fps, 64x48
    with av.open(str(paths["video"]), "w") as container:
        stream = container.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(12):
            frame = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return paths


@pytest.fixture(scope="module")
def embedder(tiny_qwen_dir: Path):
    from mmindex.backends.qwen3vl import Qwen3VLEmbedder

    return Qwen3VLEmbedder(str(tiny_qwen_dir), device="cpu")


@pytest.fixture(scope="module")
def reference(tiny_qwen_dir: Path) -> ReferenceEmbedder:
    return ReferenceEmbedder(tiny_qwen_dir)


def loaded(item: Item) -> LoadedItem:
    return LoadedItem(item, {ref: Path(ref).read_bytes() for ref in item.media})


def embed(embedder, items: list[Item], role: str = "document") -> np.ndarray:
    decoded = [embedder.decode(loaded(item)) for item in items]
    return embedder.forward(embedder.collate(decoded, role)).vectors


CASES = {
    "text": lambda m: dict(text="What is the derivative of x^2?"),
    "korean": lambda m: dict(text="다음 중 옳은 것을 고르시오. 함수 f(x)=x²의 도함수는?"),
    "image": lambda m: dict(images=[m["photo"]]),
    "text+image": lambda m: dict(text="그림 1의 삼각형", images=[m["small"]]),
    "two images": lambda m: dict(text="compare", images=[m["photo"], m["small"]]),
    "video": lambda m: dict(video=m["video"]),
    "video+image+text": lambda m: dict(text="lecture", images=[m["small"]], video=m["video"]),
}


def to_item(case: dict) -> Item:
    images = tuple(str(p) for p in case.get("images", ()))
    video = str(case["video"]) if case.get("video") else None
    return Item("x", text=case.get("text", ""), images=images, video=video)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_reference_recipe(embedder, reference, media, name):
    case = CASES[name](media)
    ours = embed(embedder, [to_item(case)])
    ref = reference.embed([case])
    assert ours.shape == (1, embedder.full_dims) and ours.dtype == np.float32
    assert float(ours[0] @ ref[0]) >= EXACT


def test_query_instruction_matches_reference_and_differs_from_document(embedder, reference):
    item = Item("q", text="삼각형의 넓이 구하는 문제")
    query = embed(embedder, [item], role="query")
    document = embed(embedder, [item], role="document")
    instruction = "Retrieve images or text relevant to the user's query"  # "." is appended
    ref = reference.embed([dict(text=item.text, instruction=instruction)])
    assert float(query[0] @ ref[0]) >= EXACT
    assert float(query[0] @ document[0]) < 0.9999


@pytest.mark.parametrize("instruction", ["Find the figure!", "그림을 찾으시오。",
                                         "  Find the figure  ", "Find the figure."])
def test_instruction_rule_matches_the_official_one(tiny_qwen_dir, reference, instruction):
    """The official ``format_model_input``'s rule (strip; "." unless it ends in punctuation),
    written in the reference from the official code, not from the library."""
    from mmindex.backends.qwen3vl import Qwen3VLEmbedder

    ours = Qwen3VLEmbedder(str(tiny_qwen_dir), device="cpu", query_instruction=instruction)
    item = Item("q", text="삼각형의 넓이")
    ref = reference.embed([dict(text=item.text, instruction=instruction)])
    assert float(embed(ours, [item], role="query")[0] @ ref[0]) >= EXACT


def test_batch_equals_one_at_a_time(embedder, media):
    items = [to_item(CASES[name](media)) for name in CASES]
    items.append(Item("long", text="a much longer passage of text " * 40))
    batched = embed(embedder, items)
    single = np.concatenate([embed(embedder, [item]) for item in items])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert not np.allclose(batched[0], batched[1])  # different inputs, different vectors


def test_media_from_bytes_only(embedder, media):
    """Remote refs (no local file) are decoded from the reader's bytes, video included."""
    local = Item("a", text="clip", images=(str(media["photo"]),), video=str(media["video"]))
    remote = LoadedItem(Item("a", text="clip", images=("s3://b/p.png",), video="s3://b/c.mp4"),
                        {"s3://b/p.png": media["photo"].read_bytes(),
                         "s3://b/c.mp4": media["video"].read_bytes()})
    a = embed(embedder, [local])
    b = embedder.forward(embedder.collate([embedder.decode(remote)])).vectors
    assert float(a[0] @ b[0]) >= EXACT


def test_matryoshka_keeps_unit_norm(embedder, media):
    vectors = embed(embedder, [to_item(CASES["two images"](media)), Item("t", text="hi")])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    short = truncate_normalize(vectors, 32)
    assert short.shape == (2, 32)
    assert np.allclose(np.linalg.norm(short, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("ref,payload,reason", [
    ("a.png", "truncated", "corrupt_media"),
    ("figure.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
     "unsupported_format"),
    ("scan.jpg", bytes(range(256)) * 8, "corrupt_media"),
    ("blob.bin", bytes(range(256)) * 8, "unsupported_format"),
    ("s3://b/clip.mp4", b"\x00\x00\x00\x18ftypmp42 not really a video", "corrupt_media"),
])
def test_bad_media_raises_item_error(embedder, media, ref, payload, reason):
    if payload == "truncated":
        payload = media["photo"].read_bytes()[:2000]
    is_video = ref.endswith(".mp4")
    item = Item("bad", text="t", images=() if is_video else (ref,),
                video=ref if is_video else None)
    with pytest.raises(ItemError) as info:
        embedder.decode(LoadedItem(item, {ref: payload}))
    assert info.value.reason == reason
    assert info.value.item_id == "bad" and "Help" in str(info.value)


def test_empty_and_missing_items(embedder):
    with pytest.raises(ItemError) as info:
        embedder.decode(LoadedItem(Item("e", text="  ")))
    assert info.value.reason == "empty_item"
    with pytest.raises(ItemError) as info:
        embedder.decode(LoadedItem(Item("m", images=("s3://b/gone.png",))))
    assert info.value.reason == "missing_media"


def test_uncached_hub_id_fails_fast_with_help():
    from mmindex.backends.qwen3vl import Qwen3VLEmbedder

    with pytest.raises(ModelUnavailableError) as info:
        Qwen3VLEmbedder("Qwen/Qwen3-VL-Embedding-nonexistent-99B")
    message = str(info.value)
    assert "Help" in message and "hf download" in message and "tiny-qwen3-vl" in message
    with pytest.raises(ModelUnavailableError, match="no such model directory"):
        Qwen3VLEmbedder("./no/such/dir")


def test_estimate_cost_matches_processor_tokens(embedder, media):
    for case in (CASES["text"], CASES["korean"], CASES["image"], CASES["two images"],
                 CASES["video+image+text"]):
        item = to_item(case(media))
        cost = embedder.estimate_cost(loaded(item))
        batch = embedder.collate([embedder.decode(loaded(item))])
        assert abs(cost.tokens - batch.num_tokens) <= 2, case
    small = embedder.estimate_cost(loaded(Item("s", images=(str(media["photo"]),))))
    large = embedder.estimate_cost(loaded(Item("l", images=(str(media["large"]),))))
    assert large.tokens > small.tokens and large.pixels > small.pixels
    short = embedder.estimate_cost(loaded(Item("t", text="short")))
    longer = embedder.estimate_cost(loaded(Item("t", text="short " * 50)))
    assert longer.tokens > short.tokens + 40


def test_estimate_cost_never_raises_for_bad_media(embedder):
    bad = LoadedItem(Item("b", images=("x.png",), video="s3://v.mp4"),
                     {"x.png": b"junk", "s3://v.mp4": b"junk"})
    assert embedder.estimate_cost(bad).tokens > 0


def test_fingerprint_tracks_what_changes_vectors(tiny_qwen_dir, embedder):
    from mmindex.backends.qwen3vl import Qwen3VLEmbedder

    fp = embedder.fingerprint()
    assert fp["backend"] == "qwen3-vl" and fp["revision"].startswith("sha256:")
    assert fp["dtype"] == "float32" and fp["max_pixels"] == 1843200
    other = Qwen3VLEmbedder(str(tiny_qwen_dir), device="cpu", document_instruction="Find exams")
    assert other.fingerprint()["instructions"]["document"] == "Find exams."
    assert other.fingerprint() != fp
    assert embedder.backend == "qwen3-vl" and embedder.device == "cpu"
    assert embedder.modalities == {"text", "image", "video"} and embedder.full_dims == 64


def test_invalid_limits_are_config_errors(tiny_qwen_dir):
    from mmindex.backends.qwen3vl import Qwen3VLEmbedder
    from mmindex.errors import ConfigError

    with pytest.raises(ConfigError, match="Help"):
        Qwen3VLEmbedder(str(tiny_qwen_dir), min_pixels=10_000, max_pixels=5_000)


def test_batch_reports_tokens(embedder):
    batch = embedder.collate([embedder.decode(LoadedItem(Item(str(i), text="word " * i)))
                              for i in (1, 20)])
    assert len(batch) == 2
    assert batch.num_tokens < batch.padded_tokens == 2 * batch.inputs["input_ids"].shape[1]


def test_loads_from_cached_hub_snapshot(tiny_qwen_dir, tmp_path, monkeypatch):
    """A hub id resolves from the HF cache layout, offline, with the snapshot's commit."""
    import shutil

    from mmindex.backends.weights import resolve_model_dir

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--Qwen--Qwen3-VL-Embedding-2B"
    shutil.copytree(tiny_qwen_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    path, revision = resolve_model_dir("Qwen/Qwen3-VL-Embedding-2B")
    assert revision == commit and (path / "model.safetensors").is_file()


def test_truncated_png_is_really_truncated(media):
    """Guard for the corrupt-media case above: PIL reads the header, fails on the pixels."""
    from PIL import Image

    image = Image.open(io.BytesIO(media["photo"].read_bytes()[:2000]))
    assert image.size == (400, 300)
    with pytest.raises(OSError):
        image.load()
