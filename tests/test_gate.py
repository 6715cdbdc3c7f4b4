"""The promotion gate: floors, regressions vs production, significance, first run, clear errors."""

from __future__ import annotations

import random
import re
import tomllib

import pytest

from mmindex.errors import ConfigError, GoldenSetError
from mmindex.evaluation import EvalMetrics, GatePolicy, decide, evaluate_run


def metrics(version: str = "g1", mode: str | None = "vector", **aggregate: float) -> EvalMetrics:
    return EvalMetrics(aggregate=dict(aggregate), per_query={}, golden_version=version, mode=mode)


def per_query_metrics(values: dict[str, float]) -> EvalMetrics:
    """Metrics whose ndcg@10 mean is the mean of ``values`` (one value per query)."""
    return EvalMetrics(
        aggregate={"ndcg@10": sum(values.values()) / len(values)},
        per_query={q: {"ndcg@10": v} for q, v in values.items()},
    )


POLICY = GatePolicy(floors={"hit@5": 0.80}, max_drop={"ndcg@10": 0.005})


def test_candidate_as_good_as_production_passes():
    d = decide(
        metrics(**{"hit@5": 0.85, "ndcg@10": 0.452}),
        metrics(**{"hit@5": 0.84, "ndcg@10": 0.455}),
        POLICY,
    )
    assert d.passed and [c.passed for c in d.checks] == [True, True]
    assert d.deltas["hit@5"] == pytest.approx(0.01) and d.production == {
        "hit@5": 0.84,
        "ndcg@10": 0.455,
    }
    assert d.reasons == ["all 2 checks passed"]


def test_floor_failure_says_value_and_floor():
    d = decide(
        metrics(**{"hit@5": 0.62, "ndcg@10": 0.5}),
        metrics(**{"hit@5": 0.6, "ndcg@10": 0.5}),
        POLICY,
    )
    assert not d.passed
    assert d.reasons == ["hit@5 0.620 < floor 0.800"]
    assert (d.checks[0].name, d.checks[0].value, d.checks[0].threshold) == (
        "floor:hit@5",
        0.62,
        0.80,
    )


def test_regression_beyond_allowed_drop_fails_with_points():
    d = decide(
        metrics(**{"hit@5": 0.9, "ndcg@10": 0.442}),
        metrics(**{"hit@5": 0.9, "ndcg@10": 0.455}),
        POLICY,
    )
    assert not d.passed
    assert d.reasons == ["ndcg@10 dropped 1.3 points vs production (0.455 -> 0.442), allowed 0.5"]
    assert d.checks[1].value == pytest.approx(0.013) and d.deltas["ndcg@10"] == pytest.approx(
        -0.013
    )


def test_value_exactly_on_threshold_passes():
    policy = GatePolicy(floors={"hit@5": 0.8}, max_drop={"ndcg@10": 0.1})
    assert decide(
        metrics(**{"hit@5": 0.8, "ndcg@10": 0.4}), metrics(**{"hit@5": 0.8, "ndcg@10": 0.5}), policy
    ).passed


def test_first_run_checks_floors_only():
    good = decide(metrics(**{"hit@5": 0.81, "ndcg@10": 0.01}), None, POLICY)
    assert good.passed and good.production is None and good.deltas == {}
    assert [c.name for c in good.checks] == ["floor:hit@5"]
    assert any("first run" in r for r in good.reasons)
    assert not decide(metrics(**{"hit@5": 0.5, "ndcg@10": 0.9}), None, POLICY).passed


def test_significance_lets_a_noisy_drop_through_but_not_a_consistent_one():
    rng = random.Random(7)
    prod = {f"q{i}": rng.uniform(0.2, 0.8) for i in range(40)}
    # half the queries 15 points worse, half 13 better: a 1-point mean drop, but noise
    noisy = {q: v + (-0.15 if i % 2 else 0.13) for i, (q, v) in enumerate(prod.items())}
    steady = {q: v - 0.02 for q, v in prod.items()}  # every query a bit worse
    production, policy = (
        per_query_metrics(prod),
        GatePolicy(max_drop={"ndcg@10": 0.005}, significance={"metric": "ndcg@10", "alpha": 0.05}),
    )
    assert production.metric("ndcg@10") - per_query_metrics(noisy).metric("ndcg@10") > 0.005
    without = decide(per_query_metrics(noisy), production, GatePolicy(max_drop={"ndcg@10": 0.005}))
    assert not without.passed
    lenient = decide(per_query_metrics(noisy), production, policy)
    assert lenient.passed and lenient.checks[0].p_value > 0.05
    assert any("not significant" in r for r in lenient.reasons)
    strict = decide(per_query_metrics(steady), production, policy)
    assert not strict.passed and strict.checks[0].p_value < 0.01
    assert "significant (p=" in strict.reasons[0]
    ttest = policy.model_copy(
        update={"significance": policy.significance.model_copy(update={"method": "ttest"})}
    )
    assert decide(per_query_metrics(noisy), production, ttest).passed
    assert not decide(per_query_metrics(steady), production, ttest).passed


def test_gate_on_real_evaluations_per_mode():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    good = evaluate_run({"q1": {"a": 1.0}, "q2": {"b": 1.0}}, qrels, mode="hybrid")
    empty = evaluate_run({"q1": {"a": 1.0}}, qrels, mode="vector")  # q2 returned nothing
    policy = GatePolicy(mode="hybrid", floors={"hit@1": 0.9}, max_drop={"mrr@10": 0.0})
    assert decide({"vector": empty, "hybrid": good}, {"hybrid": good}, policy).passed
    assert not decide({"hybrid": empty}, {"hybrid": good}, policy).passed
    with pytest.raises(
        ConfigError, match=r"no 'hybrid' metrics for the candidate \(have: vector\)"
    ):
        decide({"vector": good}, None, policy)
    with pytest.raises(
        ConfigError, match="reads 'hybrid' metrics but the candidate metrics are for 'vector'"
    ):
        decide(empty, None, policy)


def test_metric_missing_from_results_is_a_clear_error():
    with pytest.raises(
        ConfigError, match=r"'hit@5' is not in the evaluation results \(have: ndcg@10\).*Help"
    ):
        decide(metrics(**{"ndcg@10": 0.5}), None, POLICY)
    with pytest.raises(ConfigError, match="production metrics have no 'ndcg@10'"):
        decide(metrics(**{"hit@5": 0.9, "ndcg@10": 0.5}), metrics(**{"hit@5": 0.9}), POLICY)


def test_significance_without_per_query_values_is_a_clear_error():
    policy = GatePolicy(max_drop={"ndcg@10": 0.0}, significance={"alpha": 0.05})
    with pytest.raises(ConfigError, match="needs per-query values"):
        decide(metrics(**{"ndcg@10": 0.4}), metrics(**{"ndcg@10": 0.5}), policy)


def test_different_golden_sets_cannot_be_compared():
    with pytest.raises(GoldenSetError, match="re-evaluate production"):
        decide(
            metrics("new", **{"hit@5": 0.9, "ndcg@10": 0.5}),
            metrics("old", **{"hit@5": 0.9, "ndcg@10": 0.5}),
            POLICY,
        )


def test_policy_from_toml_and_its_validation():
    table = tomllib.loads(
        'mode = "fts"\n[floors]\n"hit@5" = 0.8\n[max_drop]\n"ndcg@10" = 0.005\n'
        '[significance]\nmetric = "ndcg@10"\nalpha = 0.01\nmethod = "ttest"\n'
    )
    policy = GatePolicy.from_mapping(table)
    assert policy.mode == "fts" and policy.significance.alpha == 0.01
    assert GatePolicy().max_drop == {"ndcg@10": 0.005} and GatePolicy().significance is None
    for bad, why in [
        ({"floors": {"ndcg10": 0.5}}, "unknown metric 'ndcg10'"),
        ({"floors": {"hit@5": 80}}, r"outside \[0, 1\]"),
        ({"max_drops": {}}, "max_drops"),
        ({"mode": "semantic"}, "mode"),
        ({"significance": {"metric": "map"}}, "no max_drop entry"),
    ]:
        with pytest.raises(ConfigError, match=why):
            GatePolicy.from_mapping(bad)


def test_every_search_mode_may_be_gated_but_never_an_in_sample_figure():
    from mmindex.search.modes import MODE_CHOICES

    # the one mode list decides: multivector, ann, the part modes, with their post-steps
    assert [GatePolicy(mode=m).mode for m in MODE_CHOICES] == list(MODE_CHOICES)
    assert {"multivector+rerank", "ann", "image-vector+diversify"} <= set(MODE_CHOICES)
    for mode in ("hybrid@in-sample", "hybrid+rerank@in-sample"):
        held = re.escape(mode.removesuffix("@in-sample"))
        with pytest.raises(ConfigError, match=f"in-sample.*never gated; gate on '{held}'"):
            GatePolicy.from_mapping({"mode": mode})
    for mode in ("semantic", "hybrid+boost", "vector@512", "hybrid+diversify+rerank"):
        with pytest.raises(ConfigError, match=f"mode '{re.escape(mode)}' is not a search mode"):
            GatePolicy.from_mapping({"mode": mode})


def test_decision_is_json_able():
    import json

    d = decide(metrics(**{"hit@5": 0.85, "ndcg@10": 0.45}), None, POLICY)
    assert json.loads(json.dumps(d.to_dict()))["checks"][0]["name"] == "floor:hit@5"


def two_language_sets(ko_drop: float, en_gain: float, n_ko: int = 30, n_en: int = 60):
    """Production and candidate ndcg@10 on English and Korean queries, with their segments."""
    rng = random.Random(11)
    prod = {f"en{i}": rng.uniform(0.3, 0.7) for i in range(n_en)}
    prod |= {f"ko{i}": rng.uniform(0.3, 0.7) for i in range(n_ko)}
    cand = {q: v + (en_gain if q.startswith("en") else -ko_drop + rng.uniform(-0.01, 0.01))
            for q, v in prod.items()}
    segments = {q: (f"lang={q[:2]}", "length=multi-word", "modality=text") for q in prod}
    return per_query_metrics(cand), per_query_metrics(prod), segments


def test_a_significant_drop_in_one_language_rejects_even_when_the_average_rises():
    cand, prod, segments = two_language_sets(ko_drop=0.10, en_gain=0.08)
    assert cand.metric("ndcg@10") > prod.metric("ndcg@10")  # the average rises
    policy = GatePolicy.from_mapping(tomllib.loads(
        'max_drop = { "ndcg@10" = 0.005 }\n'
        '[segments."lang=ko"]\nmax_drop = { "ndcg@10" = 0.02 }\n'))
    d = decide(cand, prod, policy, segments=segments)
    assert not d.passed
    failed = [c for c in d.checks if not c.passed]
    assert [c.name for c in failed] == ["segment[lang=ko]:max_drop:ndcg@10"]
    assert failed[0].p_value < 0.01 and failed[0].value == pytest.approx(0.10, abs=0.01)
    assert d.reasons[0].startswith("lang=ko: ndcg@10 dropped 10.")
    assert "30 queries" in d.reasons[0] and "significant (p=" in d.reasons[0]
    # without the segment rule the same candidate passes: the rule is what catches it
    assert decide(cand, prod, GatePolicy(max_drop={"ndcg@10": 0.005})).passed


def test_each_language_with_a_wildcard_and_english_may_rise():
    cand, prod, segments = two_language_sets(ko_drop=0.10, en_gain=0.08)
    policy = GatePolicy(max_drop={}, segments={"lang=*": {"max_drop": {"ndcg@10": 0.02}}})
    d = decide(cand, prod, policy, segments=segments)
    names = {c.name: c.passed for c in d.checks}
    assert names == {"segment[lang=en]:max_drop:ndcg@10": True,
                     "segment[lang=ko]:max_drop:ndcg@10": False}


def test_a_segment_drop_within_noise_passes_with_its_p_value():
    rng = random.Random(3)
    prod_v = {f"ko{i}": rng.uniform(0.2, 0.8) for i in range(30)}
    # alternate -0.15 / +0.12: a mean drop of 1.5 points that a paired test calls noise
    cand_v = {q: v + (-0.15 if i % 2 else 0.12) for i, (q, v) in enumerate(prod_v.items())}
    segments = {q: ("lang=ko",) for q in prod_v}
    policy = GatePolicy(max_drop={}, segments={"lang=ko": {"max_drop": {"ndcg@10": 0.005}}})
    d = decide(per_query_metrics(cand_v), per_query_metrics(prod_v), policy, segments=segments)
    assert d.passed and d.checks[0].p_value > 0.05
    assert any("not significant" in r for r in d.reasons)


def test_segment_floors_and_small_or_absent_segments_are_reported_not_passed_silently():
    cand, prod, segments = two_language_sets(ko_drop=0.3, en_gain=0.0, n_ko=5)
    policy = GatePolicy(max_drop={}, segments={
        "lang=ko": {"max_drop": {"ndcg@10": 0.0}, "floors": {"ndcg@10": 0.9}},
        "lang=ja": {"floors": {"ndcg@10": 0.5}},
        "lang=en": {"floors": {"ndcg@10": 0.9}}})
    d = decide(cand, None, policy, segments=segments)
    assert [c.name for c in d.checks] == ["segment[lang=en]:floor:ndcg@10"]
    assert not d.passed and d.reasons[0].startswith("lang=en: ndcg@10 0.")
    assert "segment lang=ko: 5 queries (< 20), too few to judge" in "\n".join(d.reasons)
    assert "segment lang=ja: no golden query" in "\n".join(d.reasons)
    # min_queries lowers the bar for a segment the owner knows is small
    small = GatePolicy(max_drop={}, segments={"lang=ko": {"min_queries": 5,
                                                          "max_drop": {"ndcg@10": 0.0}}})
    d = decide(cand, prod, small, segments=segments)
    assert [c.name for c in d.checks] == ["segment[lang=ko]:max_drop:ndcg@10"]
    assert not d.passed  # five queries all 30 points worse: p = 1/32 < 0.05


def test_segment_rules_need_segments_and_valid_names_old_policies_stay_valid():
    cand, prod, _ = two_language_sets(ko_drop=0.0, en_gain=0.0)
    policy = GatePolicy(segments={"lang=ko": {"floors": {"ndcg@10": 0.1}}})
    with pytest.raises(ConfigError, match="no query segments were given"):
        decide(cand, prod, policy)
    for bad, why in [({"segments": {"ko": {}}}, "not 'name=value'"),
                     ({"segments": {"lang=ko": {"floor": {}}}}, "floor"),
                     ({"segments": {"lang=ko": {"max_drop": {"ndcg": 0.1}}}}, "unknown metric"),
                     ({"segments": {"lang=ko": {"min_queries": 0}}}, "min_queries")]:
        with pytest.raises(ConfigError, match=why):
            GatePolicy.from_mapping(bad)
    old = GatePolicy.from_mapping({"mode": "hybrid", "floors": {"hit@5": 0.8},
                                   "max_drop": {"ndcg@10": 0.005}})
    assert old.segments == {}
    assert decide(cand, prod, old.model_copy(update={"floors": {}})).passed
