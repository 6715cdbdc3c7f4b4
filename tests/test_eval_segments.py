"""Confidence intervals, segments of a golden set, and the report that shows both."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from scipy import stats

from mmindex.errors import GoldenSetError
from mmindex.evaluation import EvalMetrics, EvalReport, evaluate_run, load_golden
from mmindex.evaluation import intervals as ci
from mmindex.evaluation import segments as sg


def bernoulli_run(n: int, p: float, seed: int = 5) -> tuple[dict, dict]:
    """A run where each query's only relevant doc is ranked first with probability ``p``."""
    rng = random.Random(seed)
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(n)}
    run = {q: ({f"d{i}": 2.0, "x": 1.0} if rng.random() < p else {"x": 2.0, f"d{i}": 1.0})
           for i, q in enumerate(qrels)}
    return run, qrels


def test_intervals_contain_the_estimate_are_seeded_and_shrink_with_more_queries():
    run, qrels = bernoulli_run(100, 0.7)
    m = evaluate_run(run, qrels)
    iv = ci.bootstrap_intervals(m.per_query)
    assert set(iv) == set(m.aggregate)  # every aggregate metric gets one
    for name, (lo, hi) in iv.items():
        assert lo <= m.aggregate[name] <= hi, name
    lo, hi = iv["hit@1"]
    # a proportion near 0.7 over 100 queries: the textbook 95 % interval is +-0.09
    assert 0.14 < hi - lo < 0.22 and 0.0 < lo < 0.7 < hi < 1.0
    assert ci.bootstrap_intervals(m.per_query) == iv  # the same values, the same interval
    big = evaluate_run(*bernoulli_run(400, 0.7))
    lo4, hi4 = ci.bootstrap_intervals(big.per_query)["hit@1"]
    assert (hi4 - lo4) < 0.65 * (hi - lo)  # about half as wide at four times the queries


def test_intervals_are_scipys_bootstrap():
    values = np.random.default_rng(2).random(50)
    per_query = {f"q{i}": {"ndcg@10": float(v)} for i, v in enumerate(values)}
    ref = stats.bootstrap((values,), np.mean, method="BCa", n_resamples=ci.N_RESAMPLES,
                          rng=np.random.default_rng(ci.SEED)).confidence_interval
    got = ci.bootstrap_intervals(per_query)["ndcg@10"]
    assert got == pytest.approx((ref.low, ref.high), abs=1e-9)


def test_degenerate_and_tiny_samples_still_get_a_finite_interval():
    per_query = {f"q{i}": {"hit@10": 1.0, "hit@1": 1.0 if i == 0 else 0.0} for i in range(30)}
    iv = ci.bootstrap_intervals(per_query)
    assert iv["hit@10"] == (1.0, 1.0)  # every query hits: nothing varies (BCa would be NaN)
    lo, hi = iv["hit@1"]  # one query out of 30: BCa is undefined, the percentile one is not
    assert lo == 0.0 and 1 / 30 <= hi < 0.2
    assert ci.bootstrap_intervals({"q": {"map": 0.4}}) == {"map": (0.4, 0.4)}
    assert ci.bootstrap_intervals({}) == {}
    assert ci.method_for(100) == "BCa" and ci.method_for(5000) == "percentile"


def write_golden(tmp_path, rows: list[dict]) -> tuple[str, str]:
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                              for r in rows))
    (tmp_path / "qrels.tsv").write_text("".join(f"{r['_id']}\td{r['_id']}\t1\n" for r in rows))
    return str(tmp_path / "q.jsonl"), str(tmp_path / "qrels.tsv")


def test_segments_of_golden_queries(tmp_path):
    (tmp_path / "cat.png").write_bytes(b"\x89PNG")
    golden = load_golden(*write_golden(tmp_path, [
        {"_id": "1", "text": "penguin", "lang": "en", "segment": {"subject": "birds",
                                                                  "grade": 3}},
        {"_id": "2", "text": "펭귄 사진"},  # no lang: Hangul is detected as Korean
        {"_id": "3", "image": "cat.png", "text": "a cat", "segment": "pets"},
        {"_id": "4", "image": "cat.png", "lang": "zxx"}]))
    segs = sg.query_segments(golden.queries)
    assert segs == {
        "1": ("lang=en", "length=one-word", "modality=text", "grade=3", "subject=birds"),
        "2": ("lang=ko", "length=multi-word", "modality=text"),
        "3": ("lang=en", "length=multi-word", "modality=text+image", "segment=pets"),
        "4": ("lang=zxx", "length=one-word", "modality=image"),
    }
    assert list(sg.members(segs))[:4] == ["lang=en", "lang=ko", "lang=zxx", "length=multi-word"]
    assert sg.matching("lang=*", sg.members(segs)) == ["lang=en", "lang=ko", "lang=zxx"]


@pytest.mark.parametrize("segment,why", [({"lang": "ko"}, "built in"),
                                         ({"topic": ["a", "b"]}, "a name or an object"),
                                         ({"a=b": "c"}, "a name or an object")])
def test_bad_segment_fields_are_refused_with_the_line(tmp_path, segment, why):
    with pytest.raises(GoldenSetError, match=f"line 1.*{why}"):
        load_golden(*write_golden(tmp_path, [{"_id": "1", "text": "x", "segment": segment}]))


def test_segment_metrics_are_the_means_over_its_queries():
    qrels = {"en1": {"a": 1}, "en2": {"b": 1}, "ko1": {"c": 1}}
    m = evaluate_run({"en1": {"a": 1.0}, "en2": {"x": 1.0}, "ko1": {"c": 1.0}}, qrels)
    segs = {"en1": ("lang=en",), "en2": ("lang=en",), "ko1": ("lang=ko",)}
    by = sg.by_segment(m, segs)
    assert by["lang=en"].aggregate["hit@1"] == 0.5 and by["lang=ko"].aggregate["hit@1"] == 1.0
    assert by["lang=en"].missing_queries == () and set(by["lang=en"].per_query) == {"en1", "en2"}


def test_warnings_for_small_segments_and_languages_the_golden_set_lacks():
    segs = {f"en{i}": ("lang=en", "length=multi-word") for i in range(25)}
    segs |= {f"ko{i}": ("lang=ko", "length=one-word") for i in range(3)}
    (warning,) = sg.small_segment_warnings(segs)
    assert "lang=ko (3), length=one-word (3)" in warning and "Help" in warning
    rows = [(["A penguin", "a penguin 펭귄"], None)] * 60 + [(["A flamingo", None], "en")] * 40
    rows += [(["Φ"], "el")] * 2  # 2 % of the rows: not counted as a language of the index
    langs = sg.index_languages(rows)
    assert langs == {"en": pytest.approx(100 / 102), "ko": pytest.approx(60 / 102)}
    (gap,) = sg.coverage_warnings(langs, segs)
    assert gap.startswith("language ko is in 59% of the indexed items but has 3 golden queries")
    assert sg.coverage_warnings({"ja": 0.5}, segs)[0].startswith("language ja is in 50% of the "
                                                                 "indexed items but has 0")


def report_of(**kw) -> EvalReport:
    run, qrels = bernoulli_run(30, 0.6)
    segs = {q: ("lang=ko" if int(q[1:]) < 25 else "lang=en", "length=one-word")
            for q in qrels}
    m = evaluate_run(run, qrels, golden_version="g", mode="hybrid")
    return EvalReport("e1", "sample", "t", 3, {"name": "g", "version": "g", "queries": 30},
                      {"hybrid": m}, segments=segs, **kw)


def test_report_json_keeps_its_keys_and_adds_intervals_segments_and_per_query():
    r = report_of(warnings=["language ja is in 50% of the indexed items but has 0"])
    old_keys = {"eval_id", "index", "table", "version", "golden", "action", "metrics",
                "production", "decision", "regressed", "fusion"}
    d = json.loads(json.dumps(r.to_dict()))
    assert old_keys <= set(d) and d["metrics"]["hybrid"] == r.metrics["hybrid"].aggregate
    assert "per_query" not in d  # the flow's task result stays small
    lo, hi = d["intervals"]["hybrid"]["ndcg@10"]
    assert lo <= d["metrics"]["hybrid"]["ndcg@10"] <= hi
    assert d["confidence"]["method"] == "BCa" and d["confidence"]["level"] == 0.95
    ko = d["segments"]["hybrid"]["lang=ko"]
    assert ko["queries"] == 25 and ko["small"] is False
    assert d["segments"]["hybrid"]["lang=en"]["small"] is True
    assert ko["intervals"]["hit@1"][0] <= ko["metrics"]["hit@1"] <= ko["intervals"]["hit@1"][1]
    assert d["warnings"][0].startswith("language ja")
    assert any("lang=en (5)" in w for w in d["warnings"])
    full = json.loads(json.dumps(r.to_dict(per_query=True)))
    assert full["per_query"]["hybrid"]["q0"]["hit@1"] in (0.0, 1.0)
    assert full["query_segments"]["q0"] == ["lang=ko", "length=one-word"]


def test_report_text_shows_intervals_segments_with_production_and_warnings():
    r = report_of()
    prod = EvalMetrics.from_dict(r.metrics["hybrid"].to_dict())
    r.production = {"table": "t", "version": 2, "metrics": {"hybrid": prod}}
    md = r.to_markdown()
    assert "## Metrics" in md and "| hybrid (candidate) |" in md  # the old table is still there
    lo, hi = r.intervals("hybrid")["ndcg@10"]
    assert f"[{lo:.3f}, {hi:.3f}]" in md
    assert "## By segment: `hybrid`" in md and "Δ nDCG@10 vs production" in md
    assert "| lang=ko | 25 |" in md and "| lang=en ⚠ | 5 |" in md
    assert "## Warnings" in md and "lang=en (5)" in md
    assert "+0.0000 |" in md  # production scored the same: no change per segment


def test_relabelling_segments_keeps_the_golden_version(tmp_path):
    rows = [{"_id": "1", "text": "penguin", "segment": "birds"}]
    before = load_golden(*write_golden(tmp_path, rows)).version
    rows[0]["segment"] = {"subject": "animals"}
    after = load_golden(*write_golden(tmp_path, rows))
    assert after.version == before and after.queries[0].segment == {"subject": "animals"}


def test_a_mode_scored_again_gets_fresh_intervals_and_segments():
    r = report_of()
    before, seg_before = r.intervals("hybrid"), r.by_segment("hybrid")
    run, qrels = bernoulli_run(30, 0.2, seed=9)  # e.g. the held-out figure replacing it
    r.metrics["hybrid"] = evaluate_run(run, qrels, mode="hybrid")
    assert r.intervals("hybrid") != before
    assert r.by_segment("hybrid")["lang=ko"]["metrics"] != seg_before["lang=ko"]["metrics"]
    assert r.to_dict()["intervals"]["hybrid"]["hit@1"] == list(r.intervals("hybrid")["hit@1"])
