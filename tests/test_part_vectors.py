"""Part vectors end to end: a run with tiny-clip (two towers: on by default) or Qwen3-VL
(``part_vectors=on``) writes ``vector_text``, ``vector_image`` and ``vector_fused`` beside
``vector`` in LanceDB on disk; they are searched as modes and evaluated side by side."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmindex.backends import LoadedItem, embed_items, load_embedder
from mmindex.backends.parts import fuse
from mmindex.config import Settings
from mmindex.errors import ConfigError
from mmindex.index import PART_COLUMNS, connect, ledger
from mmindex.items import Item
from mmindex.pipeline import run_embed
from mmindex.search import open_index


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    img = tmp_path / "img"
    img.mkdir()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(img / "red.png")
    Image.new("RGB", (40, 40), (10, 10, 200)).save(img / "blue.png")
    (img / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    rows = [
        {"id": "t1", "text": "A penguin."},
        {"id": "t2", "text": "바이올린"},
        {"id": "i1", "text": "", "image": "img/red.png"},
        {"id": "ti1", "text": "a blue square", "image": "img/blue.png"},
        {"id": "ti2", "text": "A frog.", "image": "img/red.png"},
        {"id": "bad-video", "text": "", "video": "clip.mp4"},
        {"id": "bad-corrupt", "text": "corrupt figure", "image": "img/broken.png"},
    ]
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def settings(tmp_path: Path, cache: Path, model: str, **kw) -> Settings:
    return Settings(db=str(tmp_path / "db"), model=model, cache_dir=cache, device="cpu", **kw)


def rows_of(s: Settings, table: str) -> dict[str, dict]:
    tbl = connect(s).open_table(table)
    return {r["id"]: r for r in tbl.to_arrow().to_pylist()}


def vec(x) -> np.ndarray:
    return np.asarray(x, np.float32)


def test_two_tower_run_writes_part_columns(tmp_path, corpus, cache):
    s = settings(tmp_path, cache, "tiny-clip")
    res = run_embed(str(corpus), "items", s)
    assert res.embedded == 5 and res.quarantine_reasons == {"unsupported_format": 1,
                                                            "corrupt_media": 1}
    rows = rows_of(s, res.table)
    assert set(PART_COLUMNS) <= set(rows["t1"])
    # nulls where the item lacks the part; the fused vector always
    assert rows["t1"]["vector_image"] is None and rows["i1"]["vector_text"] is None
    for r in rows.values():
        assert r["vector_fused"] is not None
        np.testing.assert_allclose(vec(r["vector"]), vec(r["vector_fused"]), atol=1e-6)
    both = rows["ti1"]
    want = fuse(vec([both["vector_text"]]), vec([both["vector_image"]]))[0]
    np.testing.assert_allclose(vec(both["vector_fused"]), want, atol=1e-6)
    # the parts are what the model gives for the text alone and the image alone
    emb = load_embedder("tiny-clip", device="cpu", cache_dir=cache)
    alone = embed_items(emb, [Item("x", "a blue square"), Item(
        "y", "", images=(str(corpus.parent / "img" / "blue.png"),))])
    np.testing.assert_allclose(vec(both["vector_text"]), alone[0], atol=1e-6)
    np.testing.assert_allclose(vec(both["vector_image"]), alone[1], atol=1e-6)

    # a re-run embeds nothing and loses nothing
    again = run_embed(str(corpus), "items", s)
    assert again.embedded == 0 and again.skipped_unchanged == 5
    assert rows_of(s, res.table).keys() == rows.keys()


def test_part_modes_search_the_part_columns(tmp_path, corpus, cache):
    s = settings(tmp_path, cache, "tiny-clip")
    res = run_embed(str(corpus), "items", s)
    idx = open_index("items", version=res.version, settings=s)
    rows = rows_of(s, res.table)
    # text -> image: a text query against the image vectors finds the items with images only,
    # scored by the cosine of the text tower's query and the image tower's vectors
    q = idx.embed_query("a red square")
    hits = idx.ranked("a red square", q, k=10, mode="image-vector")
    assert {i for i, _ in hits} == {"i1", "ti1", "ti2"}
    for item_id, score in hits:
        assert score == pytest.approx(float(q @ vec(rows[item_id]["vector_image"])), abs=1e-5)
    assert [h[1] for h in hits] == sorted((h[1] for h in hits), reverse=True)
    assert {i for i, _ in idx.ranked(None, q, k=10, mode="text-vector")} == {"t1", "t2", "ti1",
                                                                              "ti2"}
    assert len(idx.ranked(None, q, k=10, mode="fused-vector")) == 5
    # an image query finds its own image first (image tower against image vectors)
    df = idx.search(image=corpus.parent / "img" / "red.png", k=3, mode="image-vector")
    assert df["id"][0] in {"i1", "ti2"} and df["score"][0] == pytest.approx(1.0, abs=1e-5)
    # hybrid and plain vector search still search `vector` in a table with four vector columns
    assert idx.ranked("penguin", q, k=3, mode="hybrid")
    assert len(idx.ranked(None, q, k=10, mode="vector")) == 5


def test_cli_column_and_evaluation_side_by_side(tmp_path, corpus, cache, capsys, monkeypatch):
    from mmindex.cli.main import main
    from mmindex.evaluation.runner import evaluate_index

    s = settings(tmp_path, cache, "tiny-clip")
    res = run_embed(str(corpus), "items", s)
    monkeypatch.setenv("MMINDEX_CACHE_DIR", str(cache))
    assert main(["search", "--index", "items", "--version", str(res.version), "a red square",
                 "--column", "vector_image", "--json", "--db", s.db]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "image-vector" and {r["id"] for r in out["results"]} == {
        "i1", "ti1", "ti2"}
    q, r = tmp_path / "q.jsonl", tmp_path / "qrels.tsv"
    q.write_text(json.dumps({"_id": "q1", "text": "penguin"}) + "\n")
    r.write_text("query-id\tcorpus-id\tscore\nq1\tt1\t1\n")
    report = evaluate_index(s, "items", queries=str(q), qrels=str(r), version=res.version,
                            table=res.table, gate=False)
    assert {"vector", "text-vector", "image-vector", "fused-vector"} <= set(report.metrics)
    assert "fused-vector" in report.to_markdown()


def test_off_no_columns_and_turning_on_adds_them(tmp_path, corpus, cache):
    off = settings(tmp_path, cache, "tiny-clip", part_vectors="off")
    res = run_embed(str(corpus), "items", off)
    assert "vector_fused" not in rows_of(off, res.table)["t1"]
    idx = open_index("items", version=res.version, settings=off)
    with pytest.raises(ConfigError, match="part_vectors"):
        idx.ranked(None, idx.embed_query("x"), mode="fused-vector")
    # turned on: the table gains the columns and every item is re-embedded to fill them
    on = settings(tmp_path, cache, "tiny-clip", part_vectors="on")
    res2 = run_embed(str(corpus), "items", on)
    assert res2.embedded == 5 and res2.updated == 5
    rows = rows_of(on, res2.table)
    assert all(rows[i]["vector_fused"] is not None for i in rows)
    # off again: the columns stay (null); no row is lost
    res3 = run_embed(str(corpus), "items", off)
    rows = rows_of(off, res3.table)
    assert len(rows) == 5 and all(r["vector_fused"] is None for r in rows.values())
    assert ledger.production(connect(off), "items") is None  # nothing promoted by embed alone


def test_qwen3vl_parts_are_its_text_and_visual_variants(tmp_path, corpus, cache):
    s = settings(tmp_path, cache, "tiny-qwen3-vl", part_vectors="on")
    res = run_embed(str(corpus), "qwen", s)
    rows = rows_of(s, res.table)
    emb = load_embedder("tiny-qwen3-vl", device="cpu", cache_dir=cache)
    red = str(corpus.parent / "img" / "red.png")
    item = Item("ti2", "A frog.", images=(red,))
    whole, text, image = embed_items(emb, [item, Item("a", "A frog."),
                                           Item("b", "", images=(red,))])
    r = rows["ti2"]
    np.testing.assert_allclose(vec(r["vector"]), whole, atol=1e-5)  # `vector` as without parts
    np.testing.assert_allclose(vec(r["vector_text"]), text, atol=1e-5)
    np.testing.assert_allclose(vec(r["vector_image"]), image, atol=1e-5)
    np.testing.assert_allclose(vec(r["vector_fused"]), fuse(text[None], image[None])[0],
                               atol=1e-5)
    assert rows["t1"]["vector_image"] is None
    np.testing.assert_allclose(vec(rows["t1"]["vector_text"]), vec(rows["t1"]["vector"]))


def test_auto_is_off_for_qwen3vl_and_on_needs_a_capable_backend(tmp_path, corpus, cache):
    s = settings(tmp_path, cache, "hash", part_vectors="on")
    with pytest.raises(ConfigError, match="cannot embed an item's text"):
        run_embed(str(corpus), "items", s)
    emb = load_embedder("tiny-qwen3-vl", device="cpu", cache_dir=cache)
    from mmindex.backends.parts import wants_parts

    assert not wants_parts("auto", emb) and wants_parts("on", emb)


@pytest.mark.parametrize("model", ["tiny-clip", "tiny-qwen3-vl"])
def test_matryoshka_dims_keep_the_fused_vector_the_mean_of_the_stored_parts(
        tmp_path, corpus, cache, model):
    s = settings(tmp_path, cache, model, part_vectors="on", dims=16)
    res = run_embed(str(corpus), "small", s)
    r = rows_of(s, res.table)["ti1"]
    assert len(r["vector_fused"]) == 16
    want = fuse(vec([r["vector_text"]]), vec([r["vector_image"]]))[0]
    np.testing.assert_allclose(vec(r["vector_fused"]), want, atol=1e-6)
    for c in ("vector", *PART_COLUMNS):
        assert np.linalg.norm(vec(r[c])) == pytest.approx(1.0, abs=1e-5)
    if model == "tiny-clip":  # two towers: the item vector is the fused one at any dims
        np.testing.assert_allclose(vec(r["vector"]), vec(r["vector_fused"]), atol=1e-6)


def test_a_nan_item_vector_fails_loudly():
    """Part tables keep null part vectors; the item vector must never quietly become null."""
    from mmindex.backends.base import Encoded
    from mmindex.embed.rows import to_rows

    items = [LoadedItem(Item("a", "x")), LoadedItem(Item("b", "y"))]
    out = Encoded(np.ones((2, 4), np.float32),
                  {c: np.ones((2, 4), np.float32) for c in PART_COLUMNS})
    out.parts["vector_image"][1] = np.nan  # a missing part: null, fine
    rows = to_rows(items, out, run_id="r", model_id="m", dims=4, parts=True)
    assert rows["vector_image"].to_pylist()[1] is None
    out.vectors[1] = np.nan
    with pytest.raises(ValueError, match="NaN in the item vector of \\['b'\\]"):
        to_rows(items, out, run_id="r", model_id="m", dims=4, parts=True)
