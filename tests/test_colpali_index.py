"""Late interaction end to end: a run stores token vectors beside the pooled vector in LanceDB on
disk, MaxSim search ranks by them, bad items are quarantined, re-runs are safe, the CLI works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from mmindex.backends import embed_items, embed_items_multi, load_embedder
from mmindex.config import Settings
from mmindex.errors import ConfigError
from mmindex.index import connect, ledger
from mmindex.index.tables import STAGING_PREFIX
from mmindex.items import Item
from mmindex.pipeline import embed_group, plan_run, run_embed
from mmindex.search import open_index

EXACT = 0.999999
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")  # the tiny twins are built once per module


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    img = tmp_path / "img"
    img.mkdir()
    rng = np.random.default_rng(3)
    for name, size in (("page1", (120, 90)), ("page2", (64, 64)), ("page3", (200, 80))):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(img / f"{name}.png")
    (img / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    rows = [
        {"id": "p1", "text": "page one caption", "image": "img/page1.png"},
        {"id": "p2", "text": "", "image": "img/page2.png"},
        {"id": "p3", "text": "", "image": "img/page3.png"},
        {"id": "t1", "text": "Photosynthesis converts light into chemical energy"},
        {"id": "t2", "text": "광합성은 빛 에너지를 화학 에너지로 바꾼다"},
        {"id": "bad-corrupt", "text": "", "image": "img/broken.png"},
        {"id": "bad-missing", "text": "", "image": "img/nope.png"},
        {"id": "bad-empty", "text": "  "},
    ]
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def _settings(tmp_path: Path, cache: Path, model: str = "tiny-colpali", **kw) -> Settings:
    return Settings(db=str(tmp_path / "db"), model=model, cache_dir=cache, device="cpu",
                    model_threads=1, **kw)


def _rows(s: Settings, table: str) -> dict[str, dict]:
    tbl = connect(s).open_table(table)
    return {r["id"]: r for r in tbl.to_arrow().to_pylist()}


@pytest.mark.parametrize("model", ["tiny-colpali", "tiny-colqwen2"])
@pytest.mark.slow
def test_a_run_stores_token_vectors_beside_the_pooled_vector(tmp_path, cache, corpus,
                                                             model) -> None:
    s = _settings(tmp_path, cache, model)
    run = run_embed(str(corpus), "pages", s)
    assert (run.embedded, run.quarantined) == (5, 3)
    bad = {q["item_id"]: q["reason"] for q in ledger.quarantined(connect(s), "pages")}
    assert bad == {"bad-corrupt": "corrupt_media", "bad-missing": "missing_media",
                   "bad-empty": "empty_item"}

    tbl = connect(s).open_table(run.table)
    assert tbl.schema.field("multivector").type == pa.list_(pa.list_(pa.float32(), 32))
    rows = _rows(s, run.table)
    emb = load_embedder(model, device="cpu", cache_dir=cache)
    items = [Item("p1", "page one caption", images=(str(corpus.parent / "img/page1.png"),)),
             Item("t2", "광합성은 빛 에너지를 화학 에너지로 바꾼다")]
    want_tokens = embed_items_multi(emb, items)
    want_pooled = embed_items(emb, items)
    for item, tokens, pooled in zip(items, want_tokens, want_pooled, strict=True):
        stored = np.asarray(rows[item.id]["multivector"], np.float32)
        assert stored.shape == tokens.shape
        cos = (stored * tokens).sum(1) / np.linalg.norm(stored, axis=1) / np.linalg.norm(
            tokens, axis=1)
        assert cos.min() >= EXACT
        assert float(np.asarray(rows[item.id]["vector"]) @ pooled) >= EXACT

    # re-running changes nothing; an edited item is re-embedded alone, no duplicate rows
    again = run_embed(str(corpus), "pages", s)
    assert (again.embedded, again.skipped_unchanged, again.rows) == (0, 5, 5)
    lines = corpus.read_text().splitlines()
    lines[3] = json.dumps({"id": "t1", "text": "Cell division makes two cells"})
    corpus.write_text("\n".join(lines) + "\n")
    edited = run_embed(str(corpus), "pages", s)
    assert (edited.embedded, edited.updated, edited.rows) == (1, 1, 5)
    after = _rows(s, run.table)
    assert after["t1"]["text"] == "Cell division makes two cells"
    assert after["p1"]["multivector"] == rows["p1"]["multivector"]  # untouched rows kept


def test_an_interrupted_run_resumes_from_its_staged_token_vectors(tmp_path, cache,
                                                                  corpus) -> None:
    s = _settings(tmp_path, cache)
    plan = plan_run(str(corpus), "pages", s)  # staged every group, died before the commit
    for g in range(len(plan.groups)):
        embed_group(plan, g)
    staged = _rows(s, STAGING_PREFIX + plan.table)
    resumed = run_embed(str(corpus), "pages", s)
    assert (resumed.reused_staged, resumed.embedded, resumed.rows) == (5, 0, 5)
    rows = _rows(s, resumed.table)
    assert rows["p2"]["multivector"] == staged["p2"]["multivector"]


def test_token_vectors_are_staged_by_bytes_not_only_by_rows(tmp_path, cache, corpus,
                                                            monkeypatch) -> None:
    from mmindex.embed import rows

    def staged_writes(s: Settings, index: str) -> int:
        plan = plan_run(str(corpus), index, s)
        for g in range(len(plan.groups)):
            embed_group(plan, g)
        tbl = connect(s).open_table(STAGING_PREFIX + plan.table)
        return len(tbl.list_versions()) - 1  # the first version is the empty table

    s = _settings(tmp_path, cache, max_batch_items=1)  # five batches of one item
    assert staged_writes(s, "rows") == 1  # 5 rows < stage_rows: one write at the end
    monkeypatch.setattr(rows, "STAGE_BYTES", 1)  # as if each page held 256 MiB of tokens
    assert staged_writes(s, "bytes") == 5  # written batch by batch: memory stays bounded
    assert run_embed(str(corpus), "bytes", s).rows == 5


def test_multivector_search_ranks_by_maxsim(tmp_path, cache, corpus) -> None:
    s = _settings(tmp_path, cache)
    run = run_embed(str(corpus), "pages", s)
    idx = open_index("pages", version=run.version, settings=s)
    rows = _rows(s, run.table)
    query = idx.embed_query_tokens("a page about energy")
    brute = sorted(((i, float((query @ np.asarray(r["multivector"], np.float32).T)
                              .max(1).sum())) for i, r in rows.items()),
                   key=lambda x: x[1], reverse=True)
    got = idx.ranked("a page about energy", None, k=5, mode="multivector")
    assert [i for i, _ in got] == [i for i, _ in brute]
    assert np.allclose([x for _, x in got], [x for _, x in brute], atol=1e-4)

    # the pooled first stage re-scored by MaxSim: whole table = the same ranking; top 2 = the
    # pooled vector's top 2, in MaxSim order
    idx.first_stage = 5
    assert [i for i, _ in idx.ranked("a page about energy", None, k=5, mode="multivector")] == \
        [i for i, _ in got]
    idx.first_stage = 2
    pooled_top = {i for i, _ in idx.ranked(None, embed_items(
        idx.embedder(), [Item("q", "a page about energy")], role="query")[0], k=2)}
    two = idx.ranked("a page about energy", None, k=2, mode="multivector")
    assert {i for i, _ in two} == pooled_top
    assert [x for _, x in two] == sorted((x for _, x in two), reverse=True)


def test_an_image_query_finds_its_own_page_first(tmp_path, cache, corpus) -> None:
    s = _settings(tmp_path, cache)
    run = run_embed(str(corpus), "pages", s)
    idx = open_index("pages", version=run.version, settings=s)
    hits = idx.search(image=corpus.parent / "img/page3.png", k=3, mode="multivector")
    assert hits["id"][0] == "p3"
    n_tokens = len(idx.embed_query_tokens(image=corpus.parent / "img/page3.png"))
    assert abs(hits["score"][0] - n_tokens) < 1e-3  # every query token meets itself: cosine 1


def test_the_single_vector_modes_work_on_a_multi_vector_table(tmp_path, cache, corpus) -> None:
    # two vector columns: LanceDB would refuse to guess which one a plain search means
    s = _settings(tmp_path, cache)
    run = run_embed(str(corpus), "pages", s)
    idx = open_index("pages", version=run.version, settings=s)
    for mode in ("vector", "ann", "hybrid"):
        hits = idx.search(image=corpus.parent / "img/page1.png", text="page one caption",
                          mode=mode, k=3)
        assert hits["id"][0] == "p1", mode
    assert idx.search("caption", mode="fts")["id"].to_list() == ["p1"]


def test_multivector_mode_on_a_single_vector_index_says_what_to_do(tmp_path, cache,
                                                                   corpus) -> None:
    s = _settings(tmp_path, cache, "hash")
    run = run_embed(str(corpus), "plain", s)
    idx = open_index("plain", version=run.version, settings=s)
    with pytest.raises(ConfigError, match="no multivector column.*Help:"):
        idx.search("energy", mode="multivector")


def _env(tmp_path: Path, cache: Path) -> dict[str, str]:
    env = {**os.environ, "MMINDEX_DB": str(tmp_path / "db"), "MMINDEX_CONFIG": os.devnull,
           "MMINDEX_CACHE_DIR": str(cache), "MMINDEX_MODEL_THREADS": "1"}
    env.pop("PREFECT_API_URL", None)
    return env


@pytest.mark.slow
def test_cli_search_in_multivector_mode(tmp_path, cache, corpus) -> None:
    run = run_embed(str(corpus), "pages", _settings(tmp_path, cache, "tiny-colqwen2"))
    done = subprocess.run(
        [sys.executable, "-m", "mmindex", "search", "--index", "pages", "--version",
         str(run.version), "--mode", "multivector", "--image",
         str(corpus.parent / "img" / "page2.png"), "--json"],
        capture_output=True, text=True, env=_env(tmp_path, cache), timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["mode"] == "multivector" and out["results"][0]["id"] == "p2"


@pytest.mark.slow
def test_compare_tiny_colpali_with_tiny_qwen3_vl_over_the_sample(tmp_path, cache) -> None:
    # the acceptance, as a new user types it (from the checkout, its mmindex.toml)
    sample = REPO / "data" / "sample"
    env = {**_env(tmp_path, cache), "MMINDEX_CONFIG": str(REPO / "mmindex.toml")}
    out = tmp_path / "compare.json"
    done = subprocess.run(
        [sys.executable, "-m", "mmindex", "compare", str(sample / "manifest.jsonl"), "--models",
         "tiny-colpali,tiny-qwen3-vl", "--queries", str(sample / "golden" / "queries.jsonl"),
         "--qrels", str(sample / "golden" / "qrels.tsv"), "--no-prefect", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {tuple(line.split()[:2]) for line in done.stdout.splitlines()[2:]}
    assert {("tiny-colpali", m) for m in ("vector", "fts", "hybrid", "multivector")} <= rows
    assert {("tiny-qwen3-vl", m) for m in ("vector", "fts", "hybrid")} <= rows
    assert ("tiny-qwen3-vl", "multivector") not in rows  # a single-vector model is not
    results = {r["model"]: r for r in json.loads(out.read_text())["results"]}
    colpali = results["tiny-colpali"]
    assert colpali["error"] is None and colpali["embedded"] == colpali["seen"] == 84
    assert 0 <= colpali["metrics"]["multivector"]["ndcg@10"] <= 1
    assert colpali["index_mib"] > results["tiny-qwen3-vl"]["index_mib"]  # the token vectors


def test_the_multivector_benchmark_runs_and_its_exhaustive_search_is_exact(capsys) -> None:
    from bench import multivector as bench_mv

    bench_mv.main(["--docs", "40", "--tokens", "8", "--dims", "16", "--queries", "3"])
    lines = {line[:28].strip(): line.split() for line in capsys.readouterr().out.splitlines()}
    assert lines["lancedb multivector (all)"][-1] == "1.000"  # recall@10 against numpy MaxSim
    assert lines["pooled top 500 + MaxSim"][-1] == "1.000"  # 500 > 40 rows: all re-scored
