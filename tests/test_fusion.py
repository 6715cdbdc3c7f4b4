"""Hybrid search the LanceDB way, with a fusion chosen per version by the evaluation.

What a user notices: hybrid search returns what LanceDB's own hybrid query returns; the
evaluation picks the fusion that does best on the golden set -- never worse than vector or full
text alone -- records it with the version, and searches of that version use it.
"""

from __future__ import annotations

import json

import pytest

import mmindex
from mmindex import index as ix
from mmindex.config import Settings
from mmindex.errors import ConfigError
from mmindex.evaluation.runner import evaluate_index
from mmindex.index import fusion
from mmindex.pipeline import run_embed

ITEMS = {
    "d1": "세포분열의 단계를 설명하시오.", "d2": "식물 세포는 세포분열을 통해 자란다.",
    "d3": "광합성은 엽록체에서 일어난다.", "d4": "엽록체의 구조와 기능",
    "d5": "A penguin swims in cold water.", "d6": "Penguins live in Antarctica.",
    "d7": "The red planet Mars.", "d8": "화성은 붉은 행성이다.",
}
QUERIES = {"q1": ("세포분열 과정", ["d1", "d2"]), "q2": ("엽록체", ["d4", "d3"]),
           "q3": ("penguin", ["d5", "d6"]), "q4": ("붉은 행성", ["d8", "d7"]),
           "q5": ("red planet mars", ["d7", "d8"])}


def build(tmp):
    s = Settings(db=str(tmp / "db"), model="hash", cache_dir=tmp / "cache",
                 gate={"mode": "hybrid", "floors": {}, "max_drop": {"ndcg@10": 0.005}})
    src = tmp / "items.jsonl"
    src.write_text("".join(json.dumps({"id": k, "text": v}, ensure_ascii=False) + "\n"
                           for k, v in ITEMS.items()))
    (tmp / "queries.jsonl").write_text("".join(
        json.dumps({"_id": q, "text": t}, ensure_ascii=False) + "\n"
        for q, (t, _) in QUERIES.items()))
    (tmp / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{2 - i}\n" for q, (_, rel) in QUERIES.items() for i, d in enumerate(rel)))
    r = run_embed(str(src), "fz", s)
    report = evaluate_index(s, "fz", queries=str(tmp / "queries.jsonl"),
                            qrels=str(tmp / "qrels.tsv"), version=r.version, promote=True)
    return s, r, report


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    return build(tmp_path_factory.mktemp("fusion"))


def test_hybrid_query_ranks_as_lancedb_fuses_the_stored_legs(evaluated):
    s, r, _ = evaluated
    idx = mmindex.open_index("fz", s.db, version=r.version, table=r.table)
    for text in ("세포분열", "penguin planet", "붉은 행성"):
        vec = idx.embed_query(text)
        query = ix.fulltext.FtsSearch.of(idx.table).query(text)
        legs = fusion.legs(idx.table, query, vec)
        for spec in fusion.SWEEP:
            idx.fusion = spec
            assert idx.ranked(text, vec, k=5, mode="hybrid") == fusion.fuse(*legs, spec, k=5), spec


def test_the_chosen_fusion_is_recorded_never_loses_to_a_side_and_search_uses_it(evaluated):
    s, r, report = evaluated
    chosen = report.fusion["chosen"]
    assert chosen in fusion.SWEEP and set(report.fusion["sweep"]) == set(fusion.SWEEP)
    best_side = max(report.metrics[m].aggregate["ndcg@10"] for m in ("vector", "fts"))
    assert report.metrics["hybrid"].aggregate["ndcg@10"] >= best_side - 1e-9
    assert report.fusion["sweep"][chosen]["ndcg@10"] == pytest.approx(
        report.metrics["hybrid"].aggregate["ndcg@10"])  # the sweep measured what search serves
    assert f"Hybrid fusion: `{chosen}`" in report.to_markdown()
    assert fusion.fusion_of(ix.connect(s), r.table, r.version) == chosen


def test_search_of_a_version_uses_the_fusion_recorded_for_it(tmp_path, monkeypatch):
    from functools import partial

    from mmindex.evaluation import runner

    # a one-fusion sweep, so the recorded choice is not the default
    monkeypatch.setattr(runner, "choose_fusion", partial(runner.choose_fusion,
                                                         sweep=("linear:0.7",)))
    s, r, report = build(tmp_path)
    assert report.action == "promoted" and report.fusion["chosen"] == "linear:0.7"
    idx = mmindex.open_index("fz", s.db)
    assert idx.fusion == "linear:0.7"
    vec = idx.embed_query("엽록체")
    legs = fusion.legs(idx.table, ix.fulltext.FtsSearch.of(idx.table).query("엽록체"), vec)
    hits = idx.search("엽록체", k=3, mode="hybrid")
    expected = fusion.fuse(*legs, "linear:0.7", k=3)
    assert hits["id"].to_list() == [i for i, _ in expected]
    assert hits["score"].to_list() == pytest.approx([x for _, x in expected])


def test_a_version_never_evaluated_searches_with_rrf(evaluated):
    s, r, _ = evaluated
    assert fusion.fusion_of(ix.connect(s), r.table, r.version + 99) is None
    assert fusion.fusion_of(ix.connect(Settings(db=s.db + "-empty")), r.table, 1) is None


@pytest.mark.parametrize("spec", ["linear:1.5", "linear:x", "borda", "linear"])
def test_a_bad_fusion_says_what_to_use(spec):
    with pytest.raises(ConfigError, match="Help: e.g. linear:0.7"):
        fusion.reranker(spec)
