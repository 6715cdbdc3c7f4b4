"""Hybrid search the LanceDB way, with a fusion chosen per version by the evaluation.

What a user notices: hybrid search returns what LanceDB's own hybrid query returns; the
evaluation fits a fusion policy on the golden set, reports hybrid held out (each query ranked by
the policy fit without it) beside the in-sample figure, records the policy with the version, and
searches of that version apply it per query.
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


def test_the_fitted_policy_is_recorded_hybrid_is_held_out_and_search_uses_the_policy(evaluated):
    s, r, report = evaluated
    f = report.fusion
    assert set(fusion.SWEEP) <= set(f["sweep"]) and f["folds"] == len(QUERIES)  # leave-one-out
    held, inside = report.metrics["hybrid"], report.metrics["hybrid@in-sample"]
    assert held.aggregate["ndcg@10"] == pytest.approx(f["held_out"]["ndcg@10"])
    assert inside.aggregate["ndcg@10"] == pytest.approx(f["in_sample"]["ndcg@10"])
    # 5 queries: no segment has enough for a fusion of its own, so in-sample is the sweep's best
    assert inside.aggregate["ndcg@10"] == pytest.approx(max(
        m["ndcg@10"] for spec, m in f["sweep"].items() if spec in fusion.SWEEP))
    best_side = max(report.metrics[m].aggregate["ndcg@10"] for m in ("vector", "fts"))
    assert inside.aggregate["ndcg@10"] >= best_side - 1e-9
    assert f["held_out_gain_ndcg@10"] == pytest.approx(held.aggregate["ndcg@10"] - best_side)
    assert report.decision.mode == "hybrid"  # the gate judged the held-out figure
    assert report.decision.candidate["ndcg@10"] == pytest.approx(held.aggregate["ndcg@10"])
    assert f"Hybrid fusion: `{f['chosen']}`" in report.to_markdown()
    stored = fusion.fusion_of(ix.connect(s), r.table, r.version)
    assert isinstance(stored, fusion.FusionPolicy) and str(stored) == f["chosen"]
    assert mmindex.open_index("fz", s.db, version=r.version, table=r.table).fusion == stored


def test_search_applies_the_policy_fusion_that_fits_each_query(evaluated):
    s, r, _ = evaluated
    idx = mmindex.open_index("fz", s.db, version=r.version, table=r.table)
    idx.fusion = fusion.FusionPolicy("vector-first", {"ko/one-word": "fts-first"})
    for text, spec in (("엽록체", "fts-first"), ("red planet mars", "vector-first")):
        vec = idx.embed_query(text)
        legs = fusion.legs(idx.table, ix.fulltext.FtsSearch.of(idx.table).query(text), vec)
        assert idx.ranked(text, vec, k=5, mode="hybrid") == fusion.fuse(*legs, spec, k=5)
        if spec == "fts-first":  # the two fusions rank this query differently
            assert fusion.fuse(*legs, spec, k=5) != fusion.fuse(*legs, "vector-first", k=5)


def test_a_version_never_evaluated_searches_with_rrf(evaluated):
    s, r, _ = evaluated
    assert fusion.fusion_of(ix.connect(s), r.table, r.version + 99) is None
    assert fusion.fusion_of(ix.connect(Settings(db=s.db + "-empty")), r.table, 1) is None


@pytest.mark.parametrize("spec", ["linear:1.5", "linear:x", "borda", "linear"])
def test_a_bad_fusion_says_what_to_use(spec):
    with pytest.raises(ConfigError, match="Help: e.g. linear:0.7"):
        fusion.reranker(spec)
