"""The recipe-driven ``vlm`` backend on a tiny random Qwen2-VL twin, against plain transformers.

The reference below is written from the recipes' words (prompt strings spelled out, images
resized by the Qwen2-VL rule, ``Qwen2VLModel``, pooling by hand), not from the backend's code;
both must give the same vectors (fp32, cosine >= 0.999999).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmindex.backends import embed_items, load_embedder
from mmindex.backends.twins.qwen2vl import ensure_tiny_qwen2vl
from mmindex.backends.vlm import VLMEmbedder
from mmindex.backends.vlm_recipe import load_recipe
from mmindex.errors import ConfigError, ModelUnavailableError
from mmindex.items import Item

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "data/sample/images"
FROG, OWL = str(IMAGES / "animals_frog.png"), str(IMAGES / "animals_owl.png")
DOC = "Represent the user's input."
QUERY = "Retrieve images or text relevant to the user's query."
PAD = "<|vision_start|><|image_pad|><|vision_end|>"


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory) -> Path:
    """A cache dir holding the built twin (what ``--model tiny-qwen2-vl`` builds on first use)."""
    torch.set_num_threads(1)
    cache = tmp_path_factory.mktemp("cache")
    ensure_tiny_qwen2vl(cache)
    return cache


@pytest.fixture(scope="module")
def tiny_dir(tiny_cache) -> Path:
    return tiny_cache / "tiny-qwen2-vl"


def _resize(path: str, min_pixels: int, max_pixels: int, factor: int = 28) -> Image.Image:
    image = Image.open(path)
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        white = Image.new("RGB", image.size, (255, 255, 255))
        white.paste(image, mask=image.split()[3])
        image = white
    image = image.convert("RGB")
    w, h = image.size
    hb, wb = max(factor, round(h / factor) * factor), max(factor, round(w / factor) * factor)
    if hb * wb > max_pixels:
        beta = math.sqrt(h * w / max_pixels)
        hb = max(factor, math.floor(h / beta / factor) * factor)
        wb = max(factor, math.floor(w / beta / factor) * factor)
    elif hb * wb < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        hb, wb = math.ceil(h * beta / factor) * factor, math.ceil(w * beta / factor) * factor
    return image.resize((wb, hb), Image.Resampling.BICUBIC)


def reference(model_dir: Path, items: list[tuple[str, list[str]]], prompts: list[str], *,
              pooling: str = "last", pixels=(3136, 200704)) -> np.ndarray:
    """Plain transformers: the given prompts, Qwen2-VL resizing, Qwen2VLModel, pool, L2."""
    from transformers import AutoProcessor, Qwen2VLModel

    processor = AutoProcessor.from_pretrained(str(model_dir))
    processor.tokenizer.padding_side = "right"
    model = Qwen2VLModel.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    images = [_resize(p, *pixels) for _, paths in items for p in paths] or None
    inputs = processor(text=prompts, images=images, do_resize=False, padding=True,
                       return_tensors="pt")
    with torch.no_grad():
        hidden = model(**inputs).last_hidden_state
    out = []
    for i, mask in enumerate(inputs["attention_mask"]):
        n = int(mask.sum())
        v = hidden[i, :n].mean(0) if pooling == "mean" else hidden[i, n - 1]
        out.append(torch.nn.functional.normalize(v, dim=0).numpy())
    return np.stack(out)


def gme(instruction: str, text: str, images: int) -> str:
    return (f"<|im_start|>system\n{instruction}<|im_end|>\n<|im_start|>user\n{PAD * images}"
            f"{text}<|im_end|>\n<|im_start|>assistant\n<|endoftext|>")


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_vectors_equal_a_plain_transformers_implementation(tiny_dir):
    emb = VLMEmbedder(str(tiny_dir), device="cpu")  # the folder's embedding_recipe.toml
    items = [("A frog.", [FROG]), ("", [OWL]), ("개구리와 올빼미", []), ("two", [FROG, OWL])]
    batch = [Item(f"i{n}", t, images=tuple(p)) for n, (t, p) in enumerate(items)]
    for role, instruction in (("document", DOC), ("query", QUERY)):
        got = embed_items(emb, batch, role=role)
        want = reference(tiny_dir, items, [gme(instruction, t, len(p)) for t, p in items])
        assert _cos(got, want).min() >= 0.999999, _cos(got, want)
    one_by_one = np.concatenate([embed_items(emb, [b]) for b in batch])
    assert _cos(one_by_one, embed_items(emb, batch)).min() >= 0.999999  # batching is invisible


def test_a_recipe_file_sets_template_pooling_and_eos(tiny_dir, tmp_path):
    recipe = tmp_path / "mine.toml"
    recipe.write_text('''
name = "mine"
architecture = "qwen2-vl"
image_placeholder = "<|vision_start|><|image_pad|><|vision_end|>"
image_separator = " "
pooling = "POOL"
max_length = 512
[templates]
text = "{instruction}: {text}\\n"
image = "{images} {instruction}.\\n"
image_text = "{images} {instruction}: {text}\\n"
[instructions]
document = "Represent the given image"
query = "Find me an everyday image that matches the given caption"
''')
    items = [("A frog.", [FROG]), ("", [OWL, FROG]), ("an owl", [])]
    batch = [Item(f"i{n}", t, images=tuple(p)) for n, (t, p) in enumerate(items)]
    prompts = [f"{PAD} Represent the given image: A frog.\n",
               f"{PAD} {PAD} Represent the given image.\n",
               "Represent the given image: an owl\n"]
    for pooling, suffix in (("mean", ""), ("eos", "<|im_end|>")):
        recipe.write_text(recipe.read_text().replace('"POOL"', f'"{pooling}"')
                          .replace('"mean"', f'"{pooling}"'))
        emb = load_embedder(f"vlm:{tiny_dir}#{recipe}", device="cpu", reuse=False)
        got = embed_items(emb, batch)
        want = reference(tiny_dir, items, [p + suffix for p in prompts],
                         pooling="mean" if pooling == "mean" else "last")
        assert _cos(got, want).min() >= 0.999999, (pooling, _cos(got, want))
        assert emb.fingerprint()["pooling"] == pooling  # a recipe change re-embeds


def test_shipped_recipes_parse_and_name_their_models():
    from mmindex.backends.registry import parse_spec
    from mmindex.backends.vlm_recipe import shipped_recipe_path

    for alias, name in (("vlm2vec-qwen2vl-2b", "vlm2vec-qwen2vl"),
                        ("gme-qwen2-vl-2b", "gme-qwen2-vl")):
        recipe = load_recipe(shipped_recipe_path(name))
        assert parse_spec(alias).model_id in recipe.models
        assert recipe.pooling == "last" and recipe.normalize


def test_bad_recipes_and_missing_models_say_what_to_do(tiny_dir, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('architecture = "qwen2-vl"\npooling = "max"\ntemplate = "{text}"\n'
                   'image_placeholder = "x"\n[instructions]\ndocument = "d"\nquery = "q"\n')
    with pytest.raises(ConfigError, match="pooling must be one of last, mean, eos"):
        load_recipe(bad)
    bad.write_text('colour = "red"\n' + bad.read_text().replace('"max"', '"last"'))
    with pytest.raises(ConfigError, match="unknown keys"):
        load_recipe(bad)
    with pytest.raises(ConfigError, match="no recipe 'nope'"):
        VLMEmbedder(str(tiny_dir), recipe="nope", device="cpu")
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in tiny_dir.iterdir():
        if f.name != "embedding_recipe.toml":
            (bare / f.name).symlink_to(f)
    with pytest.raises(ModelUnavailableError, match="no embedding recipe"):
        VLMEmbedder(str(bare), device="cpu")
    with pytest.raises(ModelUnavailableError, match="not in the local Hugging Face cache"):
        load_embedder("vlm2vec-qwen2vl-2b", device="cpu", reuse=False)


def test_embed_run_with_the_tiny_twin_quarantines_video(tmp_path, tiny_cache):
    rows = [json.loads(x) for x in (REPO / "data/sample/manifest.jsonl").read_text().splitlines()]
    keep = rows[:6] + [r for r in rows if r.get("video")]
    manifest = tmp_path / "m.jsonl"
    for r in keep:
        for k in ("image", "video"):
            if r.get(k):
                r[k] = str(REPO / "data/sample" / r[k])
    manifest.write_text("".join(json.dumps(r) + "\n" for r in keep))
    from mmindex.config import Settings
    from mmindex.pipeline import run_embed
    from mmindex.search import open_index

    settings = Settings(db=str(tmp_path / "db"), cache_dir=tiny_cache, model="tiny-qwen2-vl",
                        device="cpu", media_roots=[str(REPO / "data/sample")])
    out = run_embed(str(manifest), "v", settings).to_dict()  # what `mmindex embed` runs
    assert out["inserted"] == 6 and out["quarantine_reasons"] == {"unsupported_format": 1}

    index = open_index("v", version=out["version"],
                       settings=Settings(db=str(tmp_path / "db"), cache_dir=tiny_cache))
    hits = index.ranked("A frog.", index.embed_query("A frog."), k=10, mode="vector")
    assert len(hits) == 6 and all(-1.0 <= s <= 1.0 for _, s in hits)  # same model and recipe


def _variant(tmp_path: Path, name: str, **keys: str) -> Path:
    """The twin's recipe with some top-level keys set (or replaced)."""
    text = (REPO / "src/mmindex/backends/recipes/tiny-qwen2-vl.toml").read_text()
    head, tables = text.split("\n[instructions]", 1)
    head = "\n".join(x for x in head.splitlines() if x.split(" = ")[0] not in keys)
    path = tmp_path / f"{name}.toml"
    path.write_text(head + "".join(f"\n{k} = {v}" for k, v in keys.items())
                    + "\n[instructions]" + tables)
    return path


def test_sequential_positions_change_image_items_only(tiny_dir, tmp_path):
    """1-D positions (GME under transformers < 4.52, VLM2Vec's bare <|image_pad|>) differ from
    M-RoPE only where there are image tokens: text vectors stay equal."""
    items = [Item("t", "개구리와 올빼미"), Item("i", "", images=(FROG,)),
             Item("ti", "A frog.", images=(FROG,))]
    vectors = {}
    for mode in ("mrope", "sequential"):
        spec = f"vlm:{tiny_dir}#{_variant(tmp_path, mode, positions=repr(mode))}"
        vectors[mode] = embed_items(load_embedder(spec, device="cpu", reuse=False), items)
    cos = _cos(vectors["mrope"], vectors["sequential"])
    assert cos[0] >= 0.9999999 and cos[1:].max() < 0.999999, cos  # noise: ~1e-7


def test_first_resize_and_alpha_set_the_pixels_and_the_cost(tiny_dir, tmp_path):
    """[first_resize] size squashes every image (VLM2Vec: 1344 x 1344), min/max pixels resize
    twice (GME); the cost estimate counts the tokens decode makes; alpha = "drop" keeps the
    colour under transparent pixels, "white" composites."""
    from PIL import Image

    from mmindex.backends.base import LoadedItem

    wide = tmp_path / "wide.png"
    pixels = np.zeros((90, 400, 4), dtype=np.uint8)
    pixels[..., 0] = 200  # red under a fully transparent left half
    pixels[:, 200:, 3] = 255
    Image.fromarray(pixels, "RGBA").save(wide)
    cases = {"size": ('"white"', "size = [448, 448]", (448, 448)),  # once: (168, 672)
             "twice": ('"drop"', "min_pixels = 3136\nmax_pixels = 12845056", (168, 700))}
    for name, (alpha, first, want) in cases.items():
        recipe = _variant(tmp_path, name, alpha=alpha, min_pixels="100352")
        recipe.write_text(recipe.read_text() + f"\n[first_resize]\n{first}\n")
        emb = VLMEmbedder(str(tiny_dir), recipe=str(recipe), device="cpu")
        loaded = LoadedItem(Item("w", "", images=(str(wide),)))
        image = emb.decode(loaded).images[0]
        assert (image.height, image.width) == want, name
        assert emb.estimate_cost(loaded).pixels == want[0] * want[1]
        left = image.getpixel((2, image.height // 2))
        assert left == ((255, 255, 255) if alpha == '"white"' else (200, 0, 0)), left


def test_recipe_keys_are_checked(tmp_path):
    base = (REPO / "src/mmindex/backends/recipes/tiny-qwen2-vl.toml").read_text()
    bad = tmp_path / "bad.toml"
    for extra, message in (('positions = "2d"', "positions must be one of mrope, sequential"),
                           ('alpha = "black"', "alpha must be one of white, drop"),
                           ("[first_resize]\nsize = [1344]", "give either size"),
                           ("[first_resize]\nsize = [99999, 99999]", "over 12,845,056 pixels"),
                           ("[first_resize]\nmin_pixels = 9\nmax_pixels = 3",
                            "0 < min_pixels <= max_pixels")):
        bad.write_text(extra + "\n" + base if not extra.startswith("[") else base + extra)
        with pytest.raises(ConfigError, match=message):
            load_recipe(bad)
