"""The colpali / colqwen2 backends against a plain transformers rendition of the published recipe.

The reference below does what colpali-engine 0.3.18 does, with transformers alone: its page prompt
through ``processor.process_images``; its query text (no prefix, ten augmentation tokens); for
ColQwen2 pages the inner ``Qwen2VLModel``'s own forward from ``input_ids`` and
``image_grid_thw`` (so Qwen2-VL computes its M-RoPE positions itself) and the projection; fp32,
the tokens whose attention mask is 1; one input at a time, so the backend's batching is checked
too. The proof against the official package is ``tests/test_colpali_official.py`` (slow).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmindex.backends.base import LoadedItem, embed_items, embed_items_multi
from mmindex.errors import ItemError, ModelUnavailableError
from mmindex.items import Item

EXACT = 0.999999  # fp32 on CPU: faithful implementations agree to ~1e-7
FAMILIES = ("colpali", "colqwen2")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # six test runs share two cores
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from PIL import Image

    root = tmp_path_factory.mktemp("pages")
    rng = np.random.default_rng(11)
    paths = {"page": root / "page.png", "rgba": root / "rgba.png", "wide": root / "wide.jpg",
             "broken": root / "broken.png"}
    Image.fromarray(rng.integers(0, 255, (300, 220, 3), dtype=np.uint8)).save(paths["page"])
    Image.fromarray(rng.integers(0, 255, (90, 60, 4), dtype=np.uint8), "RGBA").save(paths["rgba"])
    Image.fromarray(rng.integers(0, 255, (120, 500, 3), dtype=np.uint8)).save(paths["wide"])
    paths["broken"].write_bytes(paths["page"].read_bytes()[:300])  # truncated PNG
    return paths


@pytest.fixture(scope="module", params=FAMILIES)
def family_dir(request, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    from mmindex.backends.twins.colpali import build_tiny_late_interaction

    out = tmp_path_factory.mktemp(f"tiny-{request.param}")
    return request.param, build_tiny_late_interaction(out, request.param)


@pytest.fixture(scope="module")
def embedder(family_dir):
    from mmindex.backends.colpali import LateInteractionEmbedder

    return LateInteractionEmbedder(str(family_dir[1]), device="cpu")


class Reference:
    """The recipe, written out with transformers alone."""

    def __init__(self, family: str, path: Path):
        import torch
        import transformers

        self.family = family
        names = {"colpali": ("ColPaliForRetrieval", "ColPaliProcessor"),
                 "colqwen2": ("ColQwen2ForRetrieval", "ColQwen2Processor")}[family]
        self.processor = getattr(transformers, names[1]).from_pretrained(str(path))
        self.model = getattr(transformers, names[0]).from_pretrained(
            str(path), dtype=torch.float32).eval()

    def _run(self, inputs) -> np.ndarray:
        import torch

        with torch.no_grad():
            if "image_grid_thw" in inputs:  # ColQwen2 page: Qwen2-VL's own forward
                grid = inputs["image_grid_thw"]
                vlm = self.model.vlm
                hidden = vlm(input_ids=inputs["input_ids"],
                             attention_mask=inputs["attention_mask"],
                             pixel_values=inputs["pixel_values"][0][:int(grid[0, 1] * grid[0, 2])],
                             image_grid_thw=grid,
                             mm_token_type_ids=(inputs["input_ids"]
                                                == vlm.config.image_token_id).int())[0]
                emb = self.model.embedding_proj_layer(hidden)[0]
                emb = emb / emb.norm(dim=-1, keepdim=True)
            else:
                emb = self.model(**inputs).embeddings[0]
        return emb[inputs["attention_mask"][0].bool()].numpy()

    def page(self, path: Path) -> np.ndarray:
        from PIL import Image

        if self.family == "colpali":  # the engine's "<image><bos>Describe the image."
            self.processor.visual_prompt_prefix = "<bos>Describe the image."
        return self._run(self.processor.process_images(images=[Image.open(path)]))

    def text(self, text: str) -> np.ndarray:
        tok = self.processor.tokenizer
        if self.family == "colqwen2":
            return self._run(tok([text + "<|endoftext|>" * 10], return_tensors="pt"))
        return self._run(tok([tok.bos_token + text + tok.pad_token * 10], return_tensors="pt",
                             return_token_type_ids=False))


@pytest.fixture(scope="module")
def reference(family_dir) -> Reference:
    return Reference(*family_dir)


def _loaded(item: Item) -> LoadedItem:
    return LoadedItem(item, {ref: Path(ref).read_bytes() for ref in item.media})


def _token_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_token_vectors_equal_the_plain_recipe(embedder, reference, media) -> None:
    items = [
        Item("one-page", "caption not embedded", images=(str(media["page"]),)),
        Item("text", "광합성 과정을 설명하시오. What does the leaf do with light?"),
        Item("two-pages", "", images=(str(media["rgba"]), str(media["wide"]))),
        Item("short", "violin"),
    ]
    got = embed_items_multi(embedder, [_loaded(x) for x in items])
    want = [reference.page(media["page"]), reference.text(items[1].text),
            np.concatenate([reference.page(media["rgba"]), reference.page(media["wide"])]),
            reference.text("violin")]
    for g, w in zip(got, want, strict=True):
        assert g.shape[1] == embedder.multivector_dims
        assert _token_cosines(g, w).min() >= EXACT
        assert np.allclose(np.linalg.norm(g, axis=1), 1.0, atol=1e-5)  # normalised tokens
    # one at a time gives the same vectors as the mixed batch
    alone = embed_items_multi(embedder, [_loaded(items[2])])[0]
    assert _token_cosines(alone, got[2]).min() >= EXACT


def test_pooled_vector_is_the_renormalised_token_mean(embedder, reference, media) -> None:
    items = [Item("p", "", images=(str(media["page"]),)), Item("t", "a penguin")]
    pooled = embed_items(embedder, [_loaded(x) for x in items])
    for vec, tokens in zip(pooled, [reference.page(media["page"]), reference.text("a penguin")],
                           strict=True):
        mean = tokens.mean(0)
        assert float(vec @ (mean / np.linalg.norm(mean))) >= EXACT
        assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5


def test_maxsim_of_the_tokens_equals_the_processors_score(embedder, reference, media) -> None:
    import torch

    pages = [Item(k, "", images=(str(media[k]),)) for k in ("page", "rgba", "wide")]
    docs = embed_items_multi(embedder, [_loaded(x) for x in pages])
    queries = embed_items_multi(embedder, [Item("q", "a red square"), Item("r", "수학 문제")],
                                role="query")
    ours = np.array([[float((q @ d.T).max(1).sum()) for d in docs] for q in queries])
    theirs = reference.processor.score_retrieval([torch.from_numpy(q) for q in queries],
                                                 [torch.from_numpy(d) for d in docs])
    assert np.allclose(ours, theirs.numpy(), atol=1e-4)


def test_bad_items_are_refused_with_their_reason(embedder, media, tmp_path: Path) -> None:
    with pytest.raises(ItemError) as exc:
        embedder.decode(_loaded(Item("b", "", images=(str(media["broken"]),))))
    assert exc.value.reason == "corrupt_media"
    svg = tmp_path / "figure.svg"
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    with pytest.raises(ItemError) as exc:
        embedder.decode(_loaded(Item("s", "", images=(str(svg),))))
    assert exc.value.reason == "unsupported_format"
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0" * 16)
    with pytest.raises(ItemError) as exc:
        embedder.decode(LoadedItem(Item("v", "", video=str(clip)), {str(clip): b"\0"}))
    assert exc.value.reason == "unsupported_format" and "video" in str(exc.value)
    # video beside text: the text is embedded, the video ignored for the vectors
    assert embedder.decode(LoadedItem(Item("vt", "a clip", video=str(clip)))).text == "a clip"


def test_a_checkpoint_not_on_disk_fails_at_once_with_what_to_do(tmp_path: Path) -> None:
    from mmindex.backends import load_embedder, parse_spec

    assert parse_spec("colpali-v1.3").backend == "colpali"
    assert parse_spec("vidore/colqwen2-v1.0-hf").backend == "colqwen2"
    with pytest.raises(ModelUnavailableError) as exc:
        load_embedder("colpali:vidore/no-such-colpali-hf", device="cpu", reuse=False)
    assert "never downloads" in str(exc.value) and "Help:" in str(exc.value)


def test_a_local_checkpoint_directory_is_detected_by_its_config(family_dir) -> None:
    from mmindex.backends import parse_spec

    family, path = family_dir
    ms = parse_spec(str(path))
    assert (ms.backend, ms.model_id) == (family, str(path.resolve()))


def test_a_hub_id_loads_from_the_hugging_face_cache_offline(family_dir, tmp_path, monkeypatch,
                                                            media) -> None:
    import shutil

    from mmindex.backends import load_embedder

    family, path = family_dir
    hub_id = {"colpali": "vidore/colpali-v1.3-hf", "colqwen2": "vidore/colqwen2-v1.0-hf"}[family]
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / f"models--{hub_id.replace('/', '--')}"
    shutil.copytree(path, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    spec = {"colpali": "colpali-v1.3", "colqwen2": "colqwen2-v1.0"}[family]
    emb = load_embedder(spec, device="cpu", reuse=False)
    assert (emb.backend, emb.revision, emb.fingerprint()["model"]) == (family, commit, hub_id)
    tokens = embed_items_multi(emb, [_loaded(Item("p", "", images=(str(media["page"]),)))])[0]
    assert tokens.shape[1] == emb.multivector_dims
