"""CI-only acceptance on real data: the Vaswani collection (../shared/data, beside the project).

`mmindex embed` of Vaswani's corpus (as BEIR corpus.jsonl) with all-MiniLM-L6-v2, then exact
search for its 93 queries, reproduces the published reference (nDCG@10 = 0.4335 +/- 0.003), and
our metrics equal pytrec_eval's on the very same run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

VASWANI = Path(__file__).resolve().parents[2] / "shared" / "data" / "vaswani_npl"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not VASWANI.is_dir(), reason=f"{VASWANI} not present (CI-only check)"),
]


@pytest.fixture(scope="module")
def vaswani_index(tmp_path_factory):
    from mmindex.evaluation.trec import trec_to_beir

    tmp = tmp_path_factory.mktemp("vaswani")
    beir = trec_to_beir(VASWANI, tmp / "beir")
    db = tmp / "db"
    env = dict(os.environ, MMINDEX_DB=str(db), MMINDEX_CONFIG=os.devnull)
    out = subprocess.run(
        [sys.executable, "-m", "mmindex", "embed", str(beir / "corpus.jsonl"), "--index",
         "vaswani", "--model", "all-minilm-l6-v2", "--no-prefect", "--json"],
        capture_output=True, text=True, env=env, timeout=3600, check=True)
    result = json.loads(out.stdout)
    print("embed:", json.dumps(result["throughput"]))
    return beir, db, result


def test_vaswani_ndcg_reproduces_reference_and_equals_pytrec_eval(vaswani_index):
    import pytrec_eval

    from mmindex.config import Settings
    from mmindex.evaluation.golden import load_golden
    from mmindex.evaluation.runner import golden_run
    from mmindex.search import open_index

    beir, db, result = vaswani_index
    assert result["embedded"] == 11429 and result["quarantined"] == 0
    s = Settings(db=str(db), model="all-minilm-l6-v2")
    idx = open_index("vaswani", s.db, version=result["version"], settings=s)
    golden = load_golden(beir / "queries.jsonl", beir / "qrels" / "test.tsv")
    assert len(golden.queries) == 93
    vectors = idx.embed_queries([(q.text, None) for q in golden.queries])
    run = golden_run(idx, golden, "vector", vectors)  # exact cosine, top 100

    from mmindex.evaluation.metrics import evaluate_run

    ours = evaluate_run(run, golden.qrels)
    print({k: round(v, 4) for k, v in ours.aggregate.items()})
    assert abs(ours.aggregate["ndcg@10"] - 0.4335) <= 0.003
    assert abs(ours.aggregate["mrr@10"] - 0.6772) <= 0.003
    assert abs(ours.aggregate["recall@100"] - 0.6074) <= 0.003
    assert abs(ours.aggregate["map"] - 0.2528) <= 0.003

    measures = {"ndcg_cut_10", "recall_100", "map", "success_5", "recall_10"}
    ev = pytrec_eval.RelevanceEvaluator(golden.qrels, measures)
    trec_run = {q: {d: float(sc) for d, sc in hits} for q, hits in run.items()}
    ref = ev.evaluate(trec_run)
    pairs = {"ndcg_cut_10": "ndcg@10", "recall_100": "recall@100", "map": "map",
             "success_5": "hit@5", "recall_10": "recall@10"}
    for q, vals in ref.items():
        for trec_name, our_name in pairs.items():
            assert abs(vals[trec_name] - ours.per_query[q][our_name]) < 1e-6, (q, our_name)
    def trec_order(d: dict[str, float]) -> list[tuple[str, float]]:  # score desc, id desc
        return sorted(sorted(d.items(), reverse=True), key=lambda kv: -kv[1])

    top10 = {q: dict(trec_order(d)[:10]) for q, d in trec_run.items()}
    rr = pytrec_eval.RelevanceEvaluator(golden.qrels, {"recip_rank"}).evaluate(top10)
    for q, vals in rr.items():
        assert abs(vals["recip_rank"] - ours.per_query[q]["mrr@10"]) < 1e-6, q
