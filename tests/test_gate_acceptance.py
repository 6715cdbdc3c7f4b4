"""The gate on real data (the shipped sample and its golden set), as the nightly uses it:
a random-weight candidate is rejected while readers keep the production; a real candidate after a
source change is promoted; one rollback restores the previous production."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import mmindex
from mmindex import index as ix
from mmindex.config import Settings
from mmindex.errors import GoldenSetError
from mmindex.evaluation.runner import evaluate_index
from mmindex.index import connect, ledger
from mmindex.pipeline import run_embed

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
QUERIES, QRELS = str(SAMPLE / "golden" / "queries.jsonl"), str(SAMPLE / "golden" / "qrels.tsv")
SAMPLE_GATE = {"mode": "hybrid", "floors": {"ndcg@10": 0.77, "hit@5": 0.82},
               "max_drop": {"ndcg@10": 0.005}}  # as in mmindex.toml, with its fts_metadata_fields


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """The sample index built with all-MiniLM-L6-v2 and promoted by the gate."""
    tmp = tmp_path_factory.mktemp("gate")
    shutil.copytree(SAMPLE, tmp / "sample")
    s = Settings(db=str(tmp / "db"), model="all-minilm-l6-v2", gate=SAMPLE_GATE,
                 cache_dir=tmp / "cache", fts_metadata_fields=["caption_ko"])
    r = run_embed(str(tmp / "sample" / "manifest.jsonl"), "sample", s)
    report = evaluate_index(s, "sample", queries=QUERIES, qrels=QRELS, version=r.version,
                            promote=True)
    assert report.action == "promoted", report.decision.reasons
    return tmp, s, r


def test_random_weight_candidate_is_rejected_and_readers_keep_production(production, tiny_qwen_dir):
    tmp, s, prod = production
    rnd = s.with_overrides(model=f"qwen3-vl:{tiny_qwen_dir}")
    cand = run_embed(str(tmp / "sample" / "manifest.jsonl"), "sample", rnd)
    assert cand.table != prod.table  # another model: another table
    report = evaluate_index(rnd, "sample", queries=QUERIES, qrels=QRELS, version=cand.version,
                            table=cand.table, promote=True)
    assert report.action == "rejected"
    assert not report.decision.passed
    assert any("dropped" in r for r in report.decision.reasons)
    assert report.production["table"] == prod.table
    assert report.regressed and report.regressed[0]["delta"] < 0
    idx = mmindex.open_index("sample", s.db)
    assert (idx.table_name, idx.version) == (prod.table, prod.version)
    assert idx.search("a penguin", k=1, mode="hybrid")["id"][0] == "animals/penguin"
    rows = connect(s).open_table("_evaluations").to_arrow().to_pylist()
    rejected = [r for r in rows if r["action"] == "rejected"]
    assert rejected and json.loads(rejected[0]["production"])["version"] == prod.version


@pytest.mark.slow
def test_real_candidate_after_source_change_is_promoted_and_rollback_restores(production):
    tmp, s, prod = production
    manifest = tmp / "sample" / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    rows.append({"id": "extra/note-1", "text": "A worksheet about fractions and decimals"})
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    cand = run_embed(str(manifest), "sample", s)
    assert cand.embedded == 1 and cand.table == prod.table
    report = evaluate_index(s, "sample", queries=QUERIES, qrels=QRELS, version=cand.version,
                            promote=True)
    assert report.action == "promoted", report.decision.reasons
    assert mmindex.open_index("sample", s.db).version == cand.version
    ix.rollback(connect(s), "sample", reason="acceptance test")
    idx = mmindex.open_index("sample", s.db)
    assert (idx.table_name, idx.version) == (prod.table, prod.version)
    assert ledger.events(connect(s), "sample")[-1]["action"] == "rollback"


def test_empty_or_foreign_golden_set_is_a_clear_error_and_promotes_nothing(production, tmp_path):
    _, s, prod = production
    empty_q, empty_r = tmp_path / "q.jsonl", tmp_path / "r.tsv"
    empty_q.write_text("")
    empty_r.write_text("query-id\tcorpus-id\tscore\n")
    with pytest.raises(GoldenSetError, match="Help"):
        evaluate_index(s, "sample", queries=str(empty_q), qrels=str(empty_r), promote=True)
    empty_q.write_text('{"_id": "q1", "text": "anything"}\n')
    empty_r.write_text("query-id\tcorpus-id\tscore\nq1\tnot-an-item\t1\n")
    with pytest.raises(GoldenSetError, match="none of the 1 relevant ids"):
        evaluate_index(s, "sample", queries=str(empty_q), qrels=str(empty_r), promote=True)
    assert ledger.production(connect(s), "sample")["action"] in ("promote", "rollback")


def test_matryoshka_dims_side_by_side(production):
    _, s, prod = production
    report = evaluate_index(s, "sample", queries=QUERIES, qrels=QRELS, version=prod.version,
                            table=prod.table, modes=["vector"], gate=False, dims=[64, 384])
    full, cut = report.metrics["vector@384"].aggregate, report.metrics["vector@64"].aggregate
    # at the index's own dims, the numpy sweep is LanceDB's exact search, query by query
    for name, value in report.metrics["vector"].aggregate.items():
        assert abs(full[name] - value) < 1e-6, name
    assert cut["ndcg@10"] < full["ndcg@10"]  # 64 of MiniLM's 384 dims lose quality
    assert "vector@64" in report.to_markdown()


def test_gate_per_language_and_golden_coverage_on_the_sample(production, tmp_path):
    """The gate's segment rules reach the real evaluation, and a language of the index with no
    golden query is reported."""
    _, s, prod = production
    strict_ko = s.with_overrides(gate={**SAMPLE_GATE, "segments": {
        "lang=ko": {"floors": {"ndcg@10": 0.99}}, "lang=en": {"floors": {"ndcg@10": 0.1}}}})
    report = evaluate_index(strict_ko, "sample", queries=QUERIES, qrels=QRELS,
                            version=prod.version, table=prod.table)
    failed = [c for c in report.decision.checks if not c.passed]
    assert [c.name for c in failed] == ["segment[lang=ko]:floor:ndcg@10"]
    ko = report.by_segment("hybrid")["lang=ko"]
    assert failed[0].value == pytest.approx(ko["metrics"]["ndcg@10"]) and ko["queries"] >= 20
    assert not any(w.startswith("language") for w in report.warnings)  # en and ko both covered
    # the English queries alone: Korean is in the index (the captions) but not in the golden set
    rows = [json.loads(line) for line in Path(QUERIES).read_text().splitlines()]
    english = [r for r in rows if r.get("lang") == "en"]
    (tmp_path / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in english))
    report = evaluate_index(s, "sample", queries=str(tmp_path / "queries.jsonl"), qrels=QRELS,
                            version=prod.version, table=prod.table, modes=["fts"], gate=False)
    assert [w.split(" is in")[0] for w in report.warnings] == ["language ko"]
    assert "language ko" in report.to_markdown()
