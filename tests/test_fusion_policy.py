"""A fusion per query segment, fit on some queries and scored on others; the fusions' arithmetic.

What a user notices: a Korean one-word query and an English sentence may get different fusions;
the hybrid figure evaluation reports is scored on queries the policy was not fit on (so it is
never the flattering in-sample one); and a LanceDB upgrade that changes how its hybrid query
fuses fails here, not silently in production rankings.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from mmindex.errors import ConfigError
from mmindex.evaluation import fusion_sweep as fs
from mmindex.index import fusion
from mmindex.index.fusion import FusionPolicy


def _legs():
    vec = pa.table({"id": ["a", "b", "c"], "_distance": pa.array([0.1, 0.2, 0.4], pa.float32()),
                    "_rowid": pa.array([0, 1, 2], pa.uint64())})
    fts = pa.table({"id": ["c", "d"], "_score": pa.array([5.0, 1.0], pa.float32()),
                    "_rowid": pa.array([2, 3], pa.uint64())})
    return vec, fts


def test_lancedb_rrf_is_reciprocal_rank_with_k_60():
    """Pins LanceDB's private LanceHybridQueryBuilder._combine_hybrid_results with RRF."""
    got = dict(fusion.fuse(*_legs(), "rrf"))
    assert [i for i, _ in fusion.fuse(*_legs(), "rrf")][:2] == ["c", "a"]
    assert got["c"] == pytest.approx(1 / 61 + 1 / 63)  # 1st in full text, 3rd in vector
    assert got["a"] == pytest.approx(1 / 61) and got["d"] == pytest.approx(1 / 62)


def test_lancedb_linear_is_min_max_per_side_and_zero_when_missing():
    """Pins _combine_hybrid_results with LinearCombinationReranker: W * (1 - minmax(distance))
    + (1 - W) * minmax(bm25), a side that missed the row adding 0."""
    got = fusion.fuse(*_legs(), "linear:0.7")
    assert [i for i, _ in got] == ["a", "b", "c", "d"]
    assert dict(got) == pytest.approx({"a": 0.7, "b": 0.7 * (1 - 1 / 3), "c": 0.3, "d": 0.0})
    # linear:0.0 is not full text alone: its lowest hit scores like a row it never found
    assert dict(fusion.fuse(*_legs(), "linear:0.0"))["d"] == 0.0


def test_dbsf_scales_each_side_by_its_mean_and_three_deviations():
    import numpy as np

    sim = 1 - np.array([0.1, 0.2, 0.4])
    bm = np.array([5.0, 1.0])
    v = (sim - (sim.mean() - 3 * sim.std())) / (6 * sim.std())
    f = (bm - (bm.mean() - 3 * bm.std())) / (6 * bm.std())
    want = {"a": 0.5 * v[0], "b": 0.5 * v[1], "c": 0.5 * v[2] + 0.5 * f[0], "d": 0.5 * f[1]}
    got = fusion.fuse(*_legs(), "dbsf:0.5")
    assert dict(got) == pytest.approx(want) and [i for i, _ in got] == ["c", "a", "b", "d"]


def test_a_policy_gives_each_query_kind_its_fusion_and_round_trips():
    p = FusionPolicy("linear:0.9", {"ko/one-word": "fts-first", "en/one-word": "rrf"})
    assert p.spec("펭귄") == "fts-first" and p.spec("penguin") == "rrf"
    assert p.spec("펭귄은 날지 못하는 새") == "linear:0.9" and p.spec(None) == "linear:0.9"
    assert FusionPolicy.from_stored(p.to_json()) == p
    # a row written before policies holds one spec: every query gets it
    assert FusionPolicy.from_stored("linear:0.7") == FusionPolicy("linear:0.7")
    assert fusion.spec_for("rrf", "펭귄") == "rrf" and fusion.spec_for(p, "펭귄") == "fts-first"
    with pytest.raises(ConfigError, match="Help"):
        FusionPolicy("rrf", {"ko/one-word": "borda"})


def _scores(best: dict[str, str], specs=("rrf", "fts-first", "linear:0.9")):
    """Each query scores 1 with its own best spec, 0.5 with rrf, 0 otherwise."""
    return {s: {q: ((1.0,) * 3 if b == s else (0.5,) * 3 if s == "rrf" else (0.0,) * 3)
                for q, b in best.items()} for s in specs}


def test_fit_gives_a_segment_its_own_fusion_only_with_enough_queries():
    kinds = {**{f"k{i}": "ko/one-word" for i in range(12)},
             **{f"e{i}": "en/multi-word" for i in range(12)},
             **{f"x{i}": "en/one-word" for i in range(4)}}
    best = {q: {"ko/one-word": "fts-first", "en/multi-word": "linear:0.9",
                "en/one-word": "fts-first"}[k] for q, k in kinds.items()}
    sweep = ["rrf", "fts-first", "linear:0.9"]
    p = fs.fit_policy(_scores(best), kinds, list(kinds), sweep, min_queries=10)
    # fts-first is best over all (16 of 28): the default; en/one-word has 4 queries (< 10)
    assert p == FusionPolicy("fts-first", {"en/multi-word": "linear:0.9"})
    p = fs.fit_policy(_scores(best), kinds, list(kinds), sweep, min_queries=10, fallback="rrf")
    assert p == FusionPolicy("rrf", {"ko/one-word": "fts-first", "en/multi-word": "linear:0.9"})


def test_held_out_ranks_each_query_by_a_policy_fit_without_it():
    # two queries, each best with a fusion no other query likes: in-sample looks perfect,
    # held out (leave-one-out) each gets the other's fusion
    kinds = {"q1": "en/one-word", "q2": "en/one-word"}
    scores = _scores({"q1": "fts-first", "q2": "linear:0.9"})
    runs = {s: {q: [(f"{s}-{q}", 1.0)] for q in kinds} for s in scores}
    held, pols = fs.cross_validate(runs, scores, kinds, ["q1", "q2"],
                                   ["rrf", "fts-first", "linear:0.9"], k=5, min_queries=1)
    assert len(pols) == 2  # k capped at the number of queries
    assert held == {"q1": [("linear:0.9-q1", 1.0)], "q2": [("fts-first-q2", 1.0)]}


def test_folds_are_seeded_stratified_and_cover_every_query_once():
    kinds = {f"q{i}": ("ko/one-word" if i % 3 else "en/multi-word") for i in range(23)}
    folds = fs.folds_of(list(kinds), kinds, k=5, seed=0)
    assert sorted(q for f in folds for q in f) == sorted(kinds)
    assert folds == fs.folds_of(list(reversed(kinds)), kinds, k=5, seed=0)
    assert folds != fs.folds_of(list(kinds), kinds, k=5, seed=1)
    for f in folds:  # each segment spread evenly (15 ko and 8 en over 5 folds)
        assert 3 <= sum(kinds[q] == "ko/one-word" for q in f) <= 4
