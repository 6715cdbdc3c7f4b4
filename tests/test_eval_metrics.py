"""Metrics agree with pytrec_eval (trec_eval); paired tests and RRF behave as documented."""

from __future__ import annotations

import math
import random

import pytest
import pytrec_eval
from hypothesis import given, settings
from hypothesis import strategies as st

from mmindex.errors import ConfigError
from mmindex.evaluation import EvalMetrics, evaluate_run, paired_test, rank_results

# ours -> pytrec_eval
PAIRS = {
    "hit@1": "success_1",
    "hit@5": "success_5",
    "hit@10": "success_10",
    "recall@5": "recall_5",
    "recall@10": "recall_10",
    "recall@100": "recall_100",
    "precision@5": "P_5",
    "precision@10": "P_10",
    "ndcg@5": "ndcg_cut_5",
    "ndcg@10": "ndcg_cut_10",
    "ndcg@100": "ndcg_cut_100",
    "map": "map",
}


def assert_matches_trec_eval(run: dict, qrels: dict) -> None:
    ours = evaluate_run(run, qrels)
    ref = pytrec_eval.RelevanceEvaluator(qrels, set(PAIRS.values())).evaluate(run)
    top10 = {q: {d: run[q][d] for d in rank_results(run[q])[:10]} for q in run}
    ref_rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    assert set(ref) == set(qrels)  # every query has a run, so both evaluate the same queries
    for qid, values in ref.items():
        for name, trec_name in PAIRS.items():
            assert ours.per_query[qid][name] == pytest.approx(values[trec_name], abs=1e-6), (
                qid,
                name,
            )
        assert ours.per_query[qid]["mrr@10"] == pytest.approx(ref_rr[qid]["recip_rank"], abs=1e-6)
    for name, trec_name in PAIRS.items():
        mean = sum(v[trec_name] for v in ref.values()) / len(ref)
        assert ours.aggregate[name] == pytest.approx(mean, abs=1e-6), name


def random_case(rng: random.Random) -> tuple[dict, dict]:
    docs = [f"d{i}" for i in range(rng.randint(1, 150))]
    qrels, run = {}, {}
    for q in range(rng.randint(1, 12)):
        judged = rng.sample(docs, rng.randint(1, min(len(docs), 30)))
        qrels[f"q{q}"] = {d: rng.choice([0, 0, 1, 1, 2, 3, -1]) for d in judged}
        retrieved = rng.sample(docs, rng.randint(1, len(docs)))
        # few distinct scores: many ties, whose order trec_eval decides by doc id
        run[f"q{q}"] = {d: float(rng.randint(0, 6)) / 7 for d in retrieved}
    return run, qrels


def test_equal_to_pytrec_eval_on_seeded_random_runs_with_ties_and_graded_qrels():
    rng = random.Random(20261121)
    for _ in range(300):
        assert_matches_trec_eval(*random_case(rng))


docs_st = st.sampled_from([f"d{i}" for i in range(25)] + ["ä", "문서7", "D1", "d1 "])


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["q1", "q2", "q3"]),
        st.tuples(
            st.dictionaries(docs_st, st.integers(-1, 4), min_size=1, max_size=20),
            st.dictionaries(docs_st, st.sampled_from([0.0, 0.5, 1.0, -2.0, 1e-9]), min_size=1),
        ),
        min_size=1,
    )
)
def test_equal_to_pytrec_eval_property(cases):
    qrels = {q: judged for q, (judged, _) in cases.items()}
    run = {q: scored for q, (_, scored) in cases.items()}
    assert_matches_trec_eval(run, qrels)


def test_ties_are_ranked_by_doc_id_descending_whatever_the_list_order():
    # all scores equal: trec_eval ranks "b" before "a", so the relevant "a" is second
    m = evaluate_run({"q": [("a", 1.0), ("b", 1.0)]}, {"q": {"a": 1}})
    assert m.aggregate["mrr@10"] == 0.5
    assert m.aggregate["hit@1"] == 0.0
    assert rank_results([("a", 1.0), ("c", 2.0), ("b", 1.0)]) == ["c", "b", "a"]


def test_graded_ndcg_by_hand():
    # ranked: x (grade 1), y (0), z (2); ideal: z, x
    m = evaluate_run({"q": {"x": 3, "y": 2, "z": 1}}, {"q": {"x": 1, "z": 2, "y": 0}})
    dcg = 1 + 2 / math.log2(4)
    idcg = 2 + 1 / math.log2(3)
    assert m.aggregate["ndcg@10"] == pytest.approx(dcg / idcg)
    assert m.aggregate["map"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert m.aggregate["recall@1"] == 0.5 and m.aggregate["precision@5"] == pytest.approx(2 / 5)


def test_query_without_results_scores_zero_unlike_trec_eval_which_skips_it():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    run = {"q1": {"a": 1.0}, "q3": {"z": 1.0}}
    m = evaluate_run(run, qrels)
    assert m.per_query["q2"]["hit@5"] == 0.0
    assert m.aggregate["hit@5"] == 0.5  # trec_eval would report 1.0 over q1 alone
    assert m.missing_queries == ("q2",) and m.ignored_queries == ("q3",)
    assert set(pytrec_eval.RelevanceEvaluator(qrels, {"success_5"}).evaluate(run)) == {"q1"}


def test_repeated_doc_in_a_list_counts_once_at_its_best_score():
    m = evaluate_run({"q": [("a", 0.9), ("b", 0.8), ("a", 0.1)]}, {"q": {"a": 1, "b": 1}})
    assert m.aggregate["map"] == 1.0 and m.aggregate["precision@5"] == pytest.approx(2 / 5)


def test_nan_score_and_empty_qrels_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        evaluate_run({"q": [("a", float("nan"))]}, {"q": {"a": 1}})
    with pytest.raises(ValueError, match="qrels are empty"):
        evaluate_run({"q": [("a", 1.0)]}, {})


def test_missing_metric_names_what_exists_and_results_roundtrip_through_json_dict():
    m = evaluate_run(
        {"q": [("a", 1.0)]}, {"q": {"a": 1}}, ks=(3,), golden_version="abc", mode="fts"
    )
    assert m.metric("hit@3") == 1.0 and "ndcg@10" in m.aggregate  # @10 always computed
    with pytest.raises(ConfigError, match=r"'hit@7'.*hit@3"):
        m.metric("hit@7")
    assert EvalMetrics.from_dict(m.to_dict()) == m


def test_permutation_test_is_exact_on_small_sets():
    a, b = {"x": 1.0, "y": 2.0, "z": 3.0}, {"x": 0.0, "y": 0.0, "z": 0.0}
    # of the 8 sign flips of (1, 2, 3) only the observed one has mean >= 2
    assert paired_test(a, b, alternative="greater") == pytest.approx(1 / 8)
    assert paired_test(a, b) == pytest.approx(2 / 8)
    assert paired_test(a, b, alternative="less") == pytest.approx(1.0)
    assert paired_test(a, a) == 1.0


def test_paired_ttest_by_hand_and_randomized_test_is_seeded():
    a, b = {"x": 1.0, "y": 2.0, "z": 3.0}, {"x": 0.0, "y": 0.0, "z": 0.0}
    # t = mean / (sd / sqrt(n)) = 2 / (1 / sqrt 3), df 2
    assert paired_test(a, b, "ttest") == pytest.approx(0.0741799, abs=1e-6)
    rng = random.Random(3)
    base = {str(i): rng.random() for i in range(60)}
    worse = {q: v - 0.05 + rng.gauss(0, 0.05) for q, v in base.items()}
    p = paired_test(worse, base, alternative="less", n_resamples=2000, seed=1)
    assert p < 0.01 and p == paired_test(worse, base, alternative="less", n_resamples=2000, seed=1)
    with pytest.raises(ValueError, match="same queries"):
        paired_test({"x": 1.0}, {"y": 1.0})


def test_numpy_p_values_equal_scipys():
    # the core install has no scipy (mmindex.evaluation.pvalues): the same p-values as scipy's
    # t-test and exact permutation test, and a randomized one within Monte Carlo error
    import numpy as np
    from scipy import stats

    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 9, 12, 40, 300):
        diff = np.round(rng.normal(rng.normal(0, 0.05), 0.3, n), 2)
        a = {str(i): float(d) for i, d in enumerate(diff)}
        b = dict.fromkeys(a, 0.0)
        for alt in ("two-sided", "less", "greater"):
            want = stats.ttest_1samp(diff, 0.0, alternative=alt).pvalue
            assert paired_test(a, b, "ttest", alternative=alt) == pytest.approx(want, abs=1e-10)
            if n <= 12:  # 2**n <= 10,000: exact on both sides
                want = stats.permutation_test((diff,), np.mean, permutation_type="samples",
                                              alternative=alt, n_resamples=10_000).pvalue
                assert paired_test(a, b, alternative=alt) == pytest.approx(min(1.0, want))
            else:
                want = stats.ttest_1samp(diff, 0.0, alternative=alt).pvalue
                assert abs(paired_test(a, b, alternative=alt) - want) < 0.03
