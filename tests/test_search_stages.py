"""Two-stage search (Qwen3-VL-Reranker over the first stage's top N) and visual diversification,
on the shipped sample data: LanceDB on disk, the real CLI in a subprocess, the tiny reranker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmindex.errors import ConfigError
from mmindex.search import interleave, kmeans, pairwise_diversity, parse_mode

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
RERANKER = "tiny-qwen3-vl-reranker"


def test_kmeans_separates_directions_and_interleave_shows_one_of_each_first():
    rng = np.random.default_rng(3)
    a = np.array([1.0, 0, 0]) + rng.normal(0, 0.05, (4, 3))
    b = np.array([0, 1.0, 0]) + rng.normal(0, 0.05, (3, 3))
    c = np.array([0, 0, 1.0]) + rng.normal(0, 0.05, (2, 3))
    x = np.concatenate([a[:2], b, a[2:], c])  # ranks: a a b b b a a c c
    labels = kmeans(x, 3)
    assert len(set(labels[:2])) == 1 and len(set(labels[2:5])) == 1 and labels[0] != labels[2]
    assert set(labels[[0, 1, 5, 6]]) == {labels[0]} and len(set(labels)) == 3
    order = interleave(labels)
    assert order[:3] == [0, 2, 7]  # best of each cluster, in rank order, top result first
    assert sorted(order) == list(range(9))
    assert kmeans(np.ones((4, 3)), 3).tolist() == [0, 0, 0, 0]  # identical rows: one cluster
    div = pairwise_diversity(x[order[:3]])
    assert div["ild"] > pairwise_diversity(x[:3])["ild"]
    assert div["ild"] + div["ils"] == pytest.approx(1.0)


def test_mode_strings():
    assert parse_mode("hybrid+rerank+diversify") == ("hybrid", True, True)
    assert parse_mode("vector:vector_image") == ("vector:vector_image", False, False)
    with pytest.raises(ConfigError, match="post-steps"):
        parse_mode("hybrid+boost")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("stages")
    e = dict(os.environ, MMINDEX_DB=str(root / "db"), MMINDEX_CONFIG=os.devnull,
             MMINDEX_CACHE_DIR=str(root / "cache"), MMINDEX_MODEL="use-multilingual",
             MMINDEX_FTS_METADATA_FIELDS='["caption_ko"]', MMINDEX_RERANK_TOP="8",
             MMINDEX_MODEL_THREADS="1", OMP_NUM_THREADS="1")
    mm(e, "embed", str(SAMPLE / "manifest.jsonl"), "--index", "sample", "--no-prefect")
    mm(e, "promote", "--index", "sample", "--version", str(_version(e)), "--reason", "test")
    return e


def _version(e: dict[str, str]) -> int:
    runs = mm(e, "versions", "--index", "sample", "--json")["runs"]
    return max(r["version"] for r in runs if r["version"] is not None)


def mm(e: dict[str, str], *args: str):
    p = subprocess.run([sys.executable, "-m", "mmindex", *args], capture_output=True, text=True,
                       env=e, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout) if "--json" in args else p.stdout


@pytest.mark.slow  # ~30-60 s each here: the CLI in subprocesses, 50 pairs reranked
def test_search_rerank_prints_both_scores_of_the_first_stage_top_n(env):
    first = mm(env, "search", "--index", "sample", "a penguin", "-k", "8", "--json")["results"]
    out = mm(env, "search", "--index", "sample", "a penguin", "--rerank", RERANKER, "-k", "5",
             "--json")
    got = out["results"]
    assert out["rerank"] == RERANKER and len(got) == 5
    first_scores = {r["id"]: r["score"] for r in first}
    assert {r["id"] for r in got} <= set(first_scores)  # reranked from the top 8 (setting)
    assert all(r["first_score"] == pytest.approx(first_scores[r["id"]], abs=1e-6) for r in got)
    scores = [r["rerank_score"] for r in got]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
    assert [r["score"] for r in got] == scores

    # the scores are the reranker's own for these (query, document) pairs
    from mmindex.backends.rerankers import load_reranker
    from mmindex.config import Settings
    from mmindex.search import open_index

    idx = open_index("sample", env["MMINDEX_DB"], settings=Settings(cache_dir=env[
        "MMINDEX_CACHE_DIR"]))
    df = idx.search("a penguin", k=5, rerank=RERANKER, rerank_top=8)
    assert df["id"].to_list() == [r["id"] for r in got]
    assert np.allclose(df["_rerank_score"].to_numpy(), scores, atol=1e-5)
    from mmindex.items import Item

    rows = {r["id"]: r for r in idx.to_arrow().to_pylist()}
    doc = rows[got[0]["id"]]
    direct = load_reranker(RERANKER, device="cpu", cache_dir=Path(env["MMINDEX_CACHE_DIR"])).score(
        Item("q", "a penguin"), [Item(doc["id"], doc["text"] or "", tuple(doc["images"] or ()),
                                      doc["video"])])
    assert direct[0] == pytest.approx(scores[0], abs=1e-5)

    human = mm(env, "search", "--index", "sample", "a penguin", "--rerank", RERANKER, "-k", "5")
    assert "reranked by tiny-qwen3-vl-reranker (top 8)" in human and "rerank  first   id" in human


@pytest.mark.slow  # ~30-60 s each here: the CLI in subprocesses, 50 pairs reranked
def test_diversify_reorders_the_top_n_keeps_the_best_first_and_spreads_the_page(env):
    plain = mm(env, "search", "--index", "sample", "a penguin", "-k", "50", "--json",
               "--mode", "hybrid")["results"]
    div = mm(env, "search", "--index", "sample", "a penguin", "-k", "50", "--json",
             "--mode", "hybrid", "--diversify")["results"]
    assert [r["id"] for r in div][0] == plain[0]["id"] == "animals/penguin"
    assert sorted(r["id"] for r in div) == sorted(r["id"] for r in plain)
    assert len({r["cluster"] for r in div[:5]}) == 5  # one of each of the 5 clusters first
    assert [r["id"] for r in div] != [r["id"] for r in plain]


@pytest.mark.slow  # ~30-60 s each here: the CLI in subprocesses, 50 pairs reranked
def test_evaluate_reports_first_stage_vs_reranked_and_diversity(env):
    out = mm(env, "evaluate", "--index", "sample", "--queries",
             str(SAMPLE / "golden" / "queries.jsonl"), "--qrels",
             str(SAMPLE / "golden" / "qrels.tsv"), "--mode", "fts", "--rerank", RERANKER,
             "--diversify", "--no-gate", "--json")
    m = out["metrics"]
    assert set(m) == {"fts", "fts+rerank", "fts+diversify"}
    assert m["fts+rerank"]["ndcg@10"] != m["fts"]["ndcg@10"]  # the reranker reordered
    # reranking only reorders the top 8: what is in the top 8 is unchanged
    assert m["fts+rerank"]["recall@100"] == pytest.approx(m["fts"]["recall@100"])
    assert m["fts+diversify"]["ild@10"] > m["fts"]["ild@10"]
    assert m["fts"]["ild@10"] + m["fts"]["ils@10"] == pytest.approx(1.0)
    text = mm(env, "evaluate", "--index", "sample", "--queries",
              str(SAMPLE / "golden" / "queries.jsonl"), "--qrels",
              str(SAMPLE / "golden" / "qrels.tsv"), "--mode", "fts+rerank", "--rerank", RERANKER,
              "--no-gate")
    assert "fts+rerank (candidate)" in text


def test_gate_can_gate_on_a_reranked_mode():
    from mmindex.evaluation.gate import GatePolicy

    assert GatePolicy.from_mapping({"mode": "hybrid+rerank"}).mode == "hybrid+rerank"
    with pytest.raises(ConfigError):
        GatePolicy.from_mapping({"mode": "hybrid+boost"})


ITEMS = {
    "d1": "A penguin swims in cold water.", "d2": "Penguins live in Antarctica.",
    "d3": "The red planet Mars.", "d4": "화성은 붉은 행성이다.", "d5": "A penguin stamp.",
    "d6": "세포분열의 단계", "d7": "엽록체의 구조", "d8": "A zebra.",
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    """A hash-model index of 8 items, d5 with a figure (LanceDB on disk), in this process."""
    from PIL import Image

    from mmindex.config import Settings
    from mmindex.pipeline import run_embed
    from mmindex.search import open_index

    tmp = tmp_path_factory.mktemp("small")
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 96, 3), np.uint8)).save(
        tmp / "d5.png")
    (tmp / "items.jsonl").write_text("".join(
        json.dumps({"id": k, "text": v, **({"images": ["d5.png"]} if k == "d5" else {})},
                   ensure_ascii=False) + "\n" for k, v in ITEMS.items()))
    s = Settings(db=str(tmp / "db"), model="hash", cache_dir=tmp / "cache", device="cpu",
                 rerank_top=6)
    r = run_embed(str(tmp / "items.jsonl"), "small", s)
    return open_index("small", s.db, version=r.version, table=r.table, settings=s), tmp


def test_library_two_stage_search_reranks_the_first_stage_top_n(small):
    import torch

    torch.set_num_threads(1)
    idx, _ = small
    first = idx.search("penguin", k=6, mode="vector")
    df = idx.search("penguin", k=4, mode="vector", rerank=RERANKER)
    assert df.height == 4 and set(df["id"]) <= set(first["id"])
    assert df["_rerank_score"].to_list() == sorted(df["_rerank_score"], reverse=True)
    assert df["score"].to_list() == df["_rerank_score"].to_list()
    by_id = dict(zip(first["id"], first["score"], strict=True))
    assert all(df["_first_score"][i] == pytest.approx(by_id[d]) for i, d in enumerate(df["id"]))
    assert df["_rerank_error"].null_count() == 4
    with pytest.raises(ConfigError, match="unknown reranker"):
        idx.search("penguin", rerank="all-minilm-l6-v2")


def test_a_document_the_reranker_cannot_read_is_kept_last_with_its_reason(small):
    idx, tmp = small
    moved = tmp / "d5.moved"
    (tmp / "d5.png").rename(moved)
    try:
        df = idx.search("penguin", k=6, mode="vector", rerank=RERANKER)
    finally:
        moved.rename(tmp / "d5.png")
    assert set(df["id"]) == set(idx.search("penguin", k=6, mode="vector")["id"])
    last = df.row(df.height - 1, named=True)
    assert last["id"] == "d5" and last["_rerank_score"] is None
    assert last["_rerank_error"].startswith("missing_media")
    assert df["_rerank_score"][:-1].null_count() == 0


def test_library_diversify_keeps_the_set_and_the_best_first(small):
    idx, _ = small
    plain = idx.search("penguin", k=8)
    div = idx.search("penguin", k=8, diversify=True, diversify_top=8)
    assert div["id"][0] == plain["id"][0]
    assert sorted(div["id"]) == sorted(plain["id"])
    assert div["_cluster"].null_count() == 0 and div["_rerank_score"].null_count() == 8
    assert len(set(div["_cluster"][:5])) == 5  # 5 clusters (the setting), one of each first


def test_the_gate_decides_on_the_reranked_mode_and_records_it(small):
    from mmindex.config import Settings
    from mmindex.evaluation import evaluate_index

    idx, tmp = small
    (tmp / "gq.jsonl").write_text('{"_id": "q1", "text": "penguin"}\n'
                                  '{"_id": "q2", "text": "red planet"}\n')
    (tmp / "gqrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td5\t1\nq2\td3\t1\n")
    s = Settings(db=str(tmp / "db"), model="hash", cache_dir=tmp / "cache", device="cpu",
                 rerank_model=RERANKER, rerank_top=4, eval_modes=["hybrid"],
                 gate={"mode": "hybrid+rerank", "floors": {"hit@5": 0.0}, "max_drop": {}})
    report = evaluate_index(s, "small", queries=str(tmp / "gq.jsonl"),
                            qrels=str(tmp / "gqrels.tsv"), version=idx.version,
                            table=idx.table_name)
    # hybrid and hybrid+rerank are held-out figures; the in-sample ones beside (never gated)
    assert list(report.metrics) == ["hybrid", "hybrid+rerank", "hybrid@in-sample",
                                    "hybrid+rerank@in-sample"]
    assert report.decision.mode == "hybrid+rerank" and report.decision.passed
    md = report.to_markdown()
    assert "gated on `hybrid+rerank` search" in md and "| hybrid | rerank |" in md


def test_bench_measures_every_mode_and_picks_up_extra_vector_columns(small):
    """Runs last in this module: it adds a column (a new table version; the fixture's Index
    stays pinned to its own)."""
    import dataclasses

    import lancedb

    from bench.search_modes import extra_vector_columns, measure
    from mmindex.evaluation.golden import load_golden

    idx, tmp = small
    tbl = lancedb.connect(str(tmp / "db")).open_table(idx.table_name)
    assert extra_vector_columns(tbl) == []
    tbl.add_columns({"vector_image": "vector"})  # a second vector column, as fused items add
    assert extra_vector_columns(tbl) == ["vector_image"]
    (tmp / "q.jsonl").write_text('{"_id": "q1", "text": "penguin"}\n'
                                 '{"_id": "q2", "text": "붉은 행성"}\n')
    (tmp / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td5\t1\nq1\td1\t1\n"
                                   "q2\td4\t1\n")
    golden = load_golden(str(tmp / "q.jsonl"), str(tmp / "qrels.tsv"), name="small")
    out = measure(dataclasses.replace(idx, table=tbl, rerank_model=RERANKER, rerank_top=4),
                  golden)
    rows = {r["mode"]: r for r in out["modes"]}
    firsts = ["vector", "fts", "hybrid", "vector:vector_image"]
    assert list(rows) == [f"{f}{p}" for f in firsts for p in ("", "+rerank", "+diversify")]
    assert rows["vector:vector_image"]["ndcg@10"] == rows["vector"]["ndcg@10"]  # same vectors
    assert all(r["ms_per_query"] > 0 and 0 <= r["ndcg@10"] <= 1 for r in rows.values())
    assert "| vector:vector_image+rerank |" in out["table_markdown"]
