"""The promotion gate: may a candidate index replace production? A pure decision.

:func:`decide` reads the candidate's metrics (and production's, when there is a production
index) for one search mode and applies a :class:`GatePolicy`:

* floors -- absolute minimums (``hit@5 >= 0.80``), checked on every run, the first included;
* max_drop -- the largest allowed fall vs production, in absolute points of a metric in [0, 1]
  (``ndcg@10: 0.005`` allows 0.455 -> 0.450);
* significance (optional) -- a drop beyond max_drop rejects only when a paired test on the
  per-query values says it is significant, so noise on a small golden set does not block;
* segments -- floors and max_drop on one segment's queries (``lang=ko``, ``lang=*`` for each
  language): a candidate whose Korean queries drop significantly is rejected even when the
  average rises. A segment's drop is always put to the paired test on that segment's per-query
  values; a segment with too few queries is not judged, and the reasons say so.

The policy models live in :mod:`mmindex.evaluation.policy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mmindex.errors import ConfigError, GoldenSetError
from mmindex.evaluation.metrics import EvalMetrics, paired_test
from mmindex.evaluation.policy import GatePolicy, SegmentGate, Significance
from mmindex.evaluation.segments import QuerySegments, matching, members, subset

__all__ = ["Check", "GateDecision", "GatePolicy", "SegmentGate", "Significance", "decide"]

_EPS = 1e-12  # a value exactly on its threshold passes despite float rounding


@dataclass(frozen=True)
class Check:
    """One test the gate ran. ``value``/``threshold``: the metric and its floor, or the drop
    and the allowed drop; ``p_value`` when a significance test was run."""

    name: str
    value: float
    threshold: float
    passed: bool
    message: str
    p_value: float | None = None


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict, with everything needed to explain it."""

    passed: bool
    reasons: list[str]
    checks: list[Check]
    candidate: dict[str, float]
    production: dict[str, float] | None
    deltas: dict[str, float] = field(default_factory=dict)
    mode: str = "vector"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, for run artifacts and index metadata."""
        return asdict(self)


def decide(
    candidate: EvalMetrics | Mapping[str, EvalMetrics],
    production: EvalMetrics | Mapping[str, EvalMetrics] | None,
    policy: GatePolicy,
    *,
    segments: QuerySegments | None = None,
) -> GateDecision:
    """Decide whether ``candidate`` may replace ``production`` under ``policy``.

    Args:
        candidate: the new index's metrics, or a mapping mode -> metrics (``policy.mode`` is read).
        production: the production index's metrics on the same golden set; None on the first run
            (then only floors are checked).
        policy: floors, allowed drops, optional significance test, per-segment rules.
        segments: query id -> its segment labels
            (:func:`mmindex.evaluation.segments.query_segments`); needed when the policy has
            per-segment rules.

    Returns:
        GateDecision; ``reasons`` holds one line per failed check, plus notes (first run, drops
        let through as not significant).

    Raises:
        ConfigError: a policy metric is not in the results, the mode is missing, or the policy
            has per-segment rules and no ``segments`` were given.
        GoldenSetError: candidate and production were evaluated on different golden sets.
    """
    cand = _for_mode(candidate, policy.mode, "candidate")
    prod = None if production is None else _for_mode(production, policy.mode, "production")
    notes: list[str] = []
    checks: list[Check] = [_floor(name, floor, cand) for name, floor in policy.floors.items()]
    if prod is None:
        notes.append("first run: no production index to compare with, so only floors were checked")
    else:
        _same_golden(cand, prod)
        checks += [
            _regression(name, allowed, cand, prod, policy.significance, notes)
            for name, allowed in policy.max_drop.items()
        ]
    checks += _segment_checks(cand, prod, policy, segments, notes)
    failed = [c.message for c in checks if not c.passed]
    if not checks:
        notes.append("the policy has no checks for this run")
    elif not failed:
        notes.append(f"all {len(checks)} checks passed")
    deltas = (
        {}
        if prod is None
        else {n: v - prod.aggregate[n] for n, v in cand.aggregate.items() if n in prod.aggregate}
    )
    return GateDecision(
        passed=not failed,
        reasons=failed + notes,
        checks=checks,
        candidate=dict(cand.aggregate),
        production=None if prod is None else dict(prod.aggregate),
        deltas=deltas,
        mode=policy.mode,
    )


def _segment_checks(cand: EvalMetrics, prod: EvalMetrics | None, policy: GatePolicy,
                    segments: QuerySegments | None, notes: list[str]) -> list[Check]:
    """Floors and max_drop of each segment rule, on that segment's queries (production is cut
    to the same query ids: both were scored on one golden set)."""
    if not policy.segments:
        return []
    if segments is None:
        raise ConfigError(
            "the gate policy has per-segment rules but no query segments were given. Help: "
            "pass decide(..., segments=query_segments(golden.queries)).")
    groups = members({q: labels for q, labels in segments.items() if q in cand.per_query})
    # a segment's drop is tested on its own queries whatever significance.metric names
    sig = (policy.significance or Significance()).model_copy(update={"metric": None})
    checks: list[Check] = []
    for pattern, rule in policy.segments.items():
        labels = matching(pattern, groups)
        if not labels:
            notes.append(f"segment {pattern}: no golden query, so its rules were not checked")
        for label in labels:
            qids = groups[label]
            if len(qids) < rule.min_queries:
                notes.append(f"segment {label}: {len(qids)} queries (< {rule.min_queries}), too "
                             "few to judge, so its rules were not checked")
                continue
            seg = subset(cand, qids)
            checks += [_floor(name, floor, seg, label) for name, floor in rule.floors.items()]
            if prod is not None:
                checks += [_regression(name, allowed, seg, subset(prod, qids), sig, notes,
                                       label) for name, allowed in rule.max_drop.items()]
    return checks


def _floor(name: str, floor: float, cand: EvalMetrics, scope: str = "") -> Check:
    value = cand.metric(name)
    ok = value >= floor - _EPS
    sign = ">=" if ok else "<"
    prefix = f"{scope}: " if scope else ""
    return Check(f"{_scoped(scope)}floor:{name}", value, floor, ok,
                 f"{prefix}{name} {value:.3f} {sign} floor {floor:.3f}")


def _scoped(scope: str) -> str:
    return f"segment[{scope}]:" if scope else ""


def _regression(
    name: str,
    allowed: float,
    cand: EvalMetrics,
    prod: EvalMetrics,
    sig: Significance | None,
    notes: list[str],
    scope: str = "",
) -> Check:
    new, old = cand.metric(name), _production_metric(prod, name)
    drop = old - new
    verb = "dropped" if drop > 0 else "rose" if drop < 0 else "moved"
    msg = (
        f"{scope + ': ' if scope else ''}{name} {verb} {100 * abs(drop):.1f} points vs "
        f"production ({old:.3f} -> {new:.3f}"
        f"{f', {len(cand.per_query)} queries' if scope else ''}), allowed {100 * allowed:.1f}"
    )
    check = f"{_scoped(scope)}max_drop:{name}"
    if drop <= allowed + _EPS:
        return Check(check, drop, allowed, True, msg)
    if sig is None or sig.metric not in (None, name):
        return Check(check, drop, allowed, False, msg)
    p = paired_test(
        cand.per_query_values(name),
        _production_per_query(prod, name, cand),
        sig.method,
        alternative=sig.alternative,
        n_resamples=sig.n_resamples,
        seed=sig.seed,
    )
    if p >= sig.alpha:
        notes.append(
            f"{msg}, but the drop is not significant ({sig.method} p={p:.3g} >= alpha {sig.alpha})"
        )
        return Check(check, drop, allowed, True, msg + f"; not significant (p={p:.3g})", p)
    return Check(
        check,
        drop,
        allowed,
        False,
        msg + f"; significant (p={p:.3g} < alpha {sig.alpha})",
        p,
    )


def _for_mode(
    metrics: EvalMetrics | Mapping[str, EvalMetrics], mode: str, side: str
) -> EvalMetrics:
    if isinstance(metrics, EvalMetrics):
        if metrics.mode is not None and metrics.mode != mode:
            raise ConfigError(
                f"the gate reads {mode!r} metrics but the {side} metrics are for {metrics.mode!r}. "
                f"Help: evaluate the {mode} search mode, or set the policy's mode."
            )
        return metrics
    if mode not in metrics:
        raise ConfigError(
            f"no {mode!r} metrics for the {side} (have: {', '.join(sorted(metrics))}). "
            f"Help: evaluate the {mode} search mode, or set the policy's mode."
        )
    return metrics[mode]


def _same_golden(cand: EvalMetrics, prod: EvalMetrics) -> None:
    if cand.golden_version and prod.golden_version and cand.golden_version != prod.golden_version:
        raise GoldenSetError(
            f"candidate was evaluated on golden set {cand.golden_version} but production on "
            f"{prod.golden_version}. Help: re-evaluate production on the current golden set."
        )


def _production_metric(prod: EvalMetrics, name: str) -> float:
    if name not in prod.aggregate:
        raise ConfigError(
            f"production metrics have no {name!r}. Help: re-evaluate production with the same "
            "cutoffs as the candidate."
        )
    return prod.aggregate[name]


def _production_per_query(prod: EvalMetrics, name: str, cand: EvalMetrics) -> dict[str, float]:
    values = prod.per_query_values(name)
    if not values or not cand.per_query:
        raise ConfigError(
            "the significance test needs per-query values and the candidate or production "
            "metrics have none. Help: keep EvalMetrics.per_query when storing results."
        )
    if set(values) != set(cand.per_query):
        raise GoldenSetError(
            f"candidate and production were scored on different queries ({len(cand.per_query)} vs "
            f"{len(values)}), so a paired test is impossible. Help: re-evaluate production on the "
            "current golden set."
        )
    return values
