"""CLIP and SigLIP (tiny random twins built offline) against a plain transformers implementation
of the published recipes, written here without mmindex's code."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from mmindex.backends import LoadedItem, embed_items, load_embedder, parse_spec
from mmindex.backends.parts import fuse
from mmindex.errors import ItemError, ModelUnavailableError
from mmindex.items import Item

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "images"
TEXTS = ["A penguin.", "바이올린", "Which figure shows a right angle? " * 30]  # last: > 77 tokens


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mmcache")


def _png(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def _images() -> dict[str, bytes]:
    out = {p.name: p.read_bytes() for p in sorted(SAMPLE.glob("*.png"))[:3]}
    out["wide.png"] = _png((97, 41), (200, 30, 60))
    return out


def reference(family: str, model_dir: Path, texts: list[str], blobs: list[bytes]):
    """The model cards' recipe with plain transformers: towers, projections, L2 norm."""
    from PIL import Image
    from transformers import AutoProcessor, CLIPModel, SiglipModel

    proc = AutoProcessor.from_pretrained(str(model_dir))
    model = (CLIPModel if family == "clip" else SiglipModel).from_pretrained(
        str(model_dir), dtype=torch.float32).eval()
    out_t = out_i = None
    with torch.no_grad():
        if texts:
            if family == "clip":
                enc = proc.tokenizer(texts, padding=True, truncation=True, max_length=77,
                                     return_tensors="pt")
                pooled = model.text_model(input_ids=enc["input_ids"],
                                          attention_mask=enc["attention_mask"]).pooler_output
                out_t = model.text_projection(pooled)
            else:  # SigLIP: padded to 64 as trained, no mask; its head is in the text model
                enc = proc.tokenizer(texts, padding="max_length", truncation=True,
                                     max_length=64, return_tensors="pt")
                out_t = model.text_model(input_ids=enc["input_ids"]).pooler_output
            out_t = torch.nn.functional.normalize(out_t, dim=-1).numpy()
        if blobs:
            # as given: the checkpoint's processor converts (transparency composited on white)
            ims = [Image.open(io.BytesIO(b)) for b in blobs]
            pixels = proc(images=ims, return_tensors="pt")["pixel_values"]
            pooled = model.vision_model(pixel_values=pixels).pooler_output
            if family == "clip":
                pooled = model.visual_projection(pooled)
            out_i = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out_t, out_i


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_vectors_equal_the_plain_recipe(family, cache):
    emb = load_embedder(f"tiny-{family}", device="cpu", cache_dir=cache)
    assert emb.backend == family and emb.two_tower
    assert emb.full_dims == {"clip": 24, "siglip": 32}[family]
    images = _images()
    names = list(images)
    items = [LoadedItem(Item(f"t{i}", t)) for i, t in enumerate(TEXTS)]
    items += [LoadedItem(Item(f"i{i}", "", images=(n,)), {n: images[n]})
              for i, n in enumerate(names)]
    first = names[0]
    items.append(LoadedItem(Item("both", TEXTS[0], images=(first,)), {first: images[first]}))
    got = embed_items(emb, items, role="document")
    ref_t, ref_i = reference(family, emb.model_dir, TEXTS, [images[n] for n in names])
    want = np.concatenate([ref_t, ref_i, fuse(ref_t[:1], ref_i[:1])])
    assert got.shape == want.shape
    assert cosine_rows(got, want).min() >= 0.999999
    # a query is embedded the same way (the recipes have no instruction); one at a time = batched
    alone = embed_items(emb, [items[1]], role="query")
    assert cosine_rows(alone, got[1:2]).min() >= 0.999999


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_parts_and_fused_vector(family, cache):
    emb = load_embedder(f"tiny-{family}", device="cpu", cache_dir=cache)
    images = _images()
    a, b = list(images)[:2]
    items = [LoadedItem(Item("text", "A frog.")),
             LoadedItem(Item("image", "", images=(a,)), {a: images[a]}),
             LoadedItem(Item("both", "A frog.", images=(a, b)), {a: images[a], b: images[b]})]
    out = emb.forward(emb.collate_parts([emb.decode(x) for x in items]))
    parts = {"vector": out.vectors, **out.parts}
    assert np.isnan(parts["vector_image"][0]).all() and np.isnan(parts["vector_text"][1]).all()
    np.testing.assert_allclose(parts["vector_text"][2], parts["vector_text"][0], atol=1e-6)
    # two images: their normalised mean; fused: mean of text and image vectors, renormalised
    single = emb.forward(emb.collate_parts([emb.decode(LoadedItem(
        Item("b", "", images=(b,)), {b: images[b]}))])).parts["vector_image"][0]
    two = parts["vector_image"][1] + single
    np.testing.assert_allclose(parts["vector_image"][2], two / np.linalg.norm(two), atol=1e-6)
    fused = parts["vector_text"][2] + parts["vector_image"][2]
    np.testing.assert_allclose(parts["vector_fused"][2], fused / np.linalg.norm(fused),
                               atol=1e-6)
    np.testing.assert_allclose(parts["vector"], parts["vector_fused"], atol=1e-7)


def test_bad_items_are_item_errors(cache):
    emb = load_embedder("tiny-clip", device="cpu", cache_dir=cache)
    with pytest.raises(ItemError) as e:
        emb.decode(LoadedItem(Item("v", "", video="clip.mp4"), {"clip.mp4": b"x"}))
    assert e.value.reason == "unsupported_format"
    with pytest.raises(ItemError) as e:
        emb.decode(LoadedItem(Item("c", "", images=("x.png",)), {"x.png": b"not a png"}))
    assert e.value.reason == "corrupt_media"
    # text beside a video: the text is embedded, the video ignored
    assert emb.decode(LoadedItem(Item("tv", "A frog.", video="clip.mp4"), {})).text == "A frog."


def test_weights_never_downloaded():
    with pytest.raises(ModelUnavailableError, match="never downloads"):
        load_embedder("clip:openai/not-a-cached-model", device="cpu", reuse=False)


def test_local_directory_is_detected(cache):
    emb = load_embedder("tiny-siglip", device="cpu", cache_dir=cache)
    spec = parse_spec(str(emb.model_dir))
    assert spec.backend == "siglip"
    assert parse_spec("clip-vit-b-32").model_id == "openai/clip-vit-base-patch32"


def test_loads_by_alias_from_the_hub_cache(cache, tmp_path, monkeypatch):
    """`--model siglip-base` resolves from the Hugging Face cache layout, offline, and
    `mmindex models` then reports its weights present."""
    import shutil

    from mmindex.backends.availability import weights_status

    built = load_embedder("tiny-siglip", device="cpu", cache_dir=cache).model_dir
    commit = "89abcdef0123456789abcdef0123456789abcdef"
    repo = tmp_path / "hub" / "models--google--siglip-base-patch16-224"
    shutil.copytree(built, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    assert weights_status("siglip-base").startswith("present")
    emb = load_embedder("siglip-base", device="cpu", reuse=False)
    assert emb.revision == commit and emb.backend == "siglip"
    assert emb.fingerprint()["revision"] == commit
    one = embed_items(emb, [Item("a", "A penguin.")])
    assert one.shape == (1, 32) and abs(float(np.linalg.norm(one)) - 1) < 1e-5


def test_make_tiny_model_builds_a_twin_folder_the_loader_detects(tmp_path):
    from mmindex.cli.main import main

    out = tmp_path / "my-siglip"
    assert main(["make-tiny-model", str(out), "--family", "siglip"]) == 0
    assert parse_spec(str(out)).backend == "siglip"  # from config.json's model_type
    emb = load_embedder(str(out), device="cpu", reuse=False)
    assert emb.backend == "siglip" and emb.full_dims == 32


def _transparent_png() -> bytes:
    """Black under a fully transparent half, red opaque half: RGB-dropping sees black."""
    from PIL import Image

    im = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    im.paste((220, 20, 20, 255), (32, 0, 64, 48))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_a_transparent_image_is_read_as_the_checkpoints_processor_reads_it(family, cache):
    """The processor itself (transformers' image processor of the checkpoint, given the RGBA
    image as it is) is the reference: transparency composited on white, not dropped."""
    from PIL import Image
    from transformers import AutoModel, AutoProcessor

    emb = load_embedder(f"tiny-{family}", cache_dir=cache)
    blob = _transparent_png()
    item = Item("t", images=("t.png",))
    ours = emb.forward(emb.collate([emb.decode(LoadedItem(item, {"t.png": blob}))])).vectors
    ours = np.asarray(ours)[0] / np.linalg.norm(np.asarray(ours)[0])
    proc = AutoProcessor.from_pretrained(str(emb.model_dir))
    model = AutoModel.from_pretrained(str(emb.model_dir), dtype=torch.float32).eval()
    with torch.no_grad():
        pixels = proc(images=[Image.open(io.BytesIO(blob))], return_tensors="pt")["pixel_values"]
        ref = model.get_image_features(pixel_values=pixels)
        ref = getattr(ref, "pooler_output", ref)
        ref = torch.nn.functional.normalize(ref, dim=-1)[0].numpy()
    assert float(ours @ ref) >= 0.999999
    # and the old rule (alpha dropped: black under the transparent half) is measurably apart
    buf = io.BytesIO()
    Image.open(io.BytesIO(blob)).convert("RGB").save(buf, "PNG")
    _, dropped = reference(family, emb.model_dir, [], [buf.getvalue()])
    assert float(ours @ dropped[0]) < 0.9999
