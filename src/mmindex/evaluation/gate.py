"""The promotion gate: may a candidate index replace production? A pure decision.

:func:`decide` reads the candidate's metrics (and production's, when there is a production
index) for one search mode and applies a :class:`GatePolicy`:

* floors -- absolute minimums (``hit@5 >= 0.80``), checked on every run, the first included;
* max_drop -- the largest allowed fall vs production, in absolute points of a metric in [0, 1]
  (``ndcg@10: 0.005`` allows 0.455 -> 0.450);
* significance (optional) -- a drop beyond max_drop rejects only when a paired test on the
  per-query values says it is significant, so noise on a small golden set does not block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mmindex.errors import ConfigError, GoldenSetError
from mmindex.evaluation.metrics import EvalMetrics, is_metric_name, paired_test

_EPS = 1e-12  # a value exactly on its threshold passes despite float rounding


class Significance(BaseModel):
    """Reject a drop only when a paired test finds it significant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str | None = Field(None, description="Metric tested; None = every max_drop metric")
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level")
    method: Literal["permutation", "ttest"] = "permutation"
    alternative: Literal["less", "two-sided"] = Field(
        "less", description="'less': is the candidate worse? (one-sided, the gate's question)"
    )
    n_resamples: int = Field(10_000, ge=100)
    seed: int = 0


class GatePolicy(BaseModel):
    """When a candidate index may be promoted; build it from config with :meth:`from_mapping`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: str = Field(
        "vector", pattern=r"^(vector|fts|hybrid)(\+rerank)?(\+diversify)?$",
        description="Whose metrics are gated: vector, fts or hybrid, optionally reranked and/or "
                    "diversified (e.g. hybrid+rerank; evaluate with --rerank / --diversify)"
    )
    floors: dict[str, float] = Field(default_factory=dict, description="metric -> minimum value")
    max_drop: dict[str, float] = Field(
        default_factory=lambda: {"ndcg@10": 0.005},
        description="metric -> largest allowed drop vs production, absolute (0.005 = 0.5 point)",
    )
    significance: Significance | None = None

    @field_validator("floors", "max_drop")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        for name, threshold in value.items():
            if not is_metric_name(name):
                raise ValueError(
                    f"unknown metric {name!r}; use map, or hit/recall/precision/mrr/ndcg@k"
                )
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"{name}: threshold {threshold} is outside [0, 1]")
        return value

    @model_validator(mode="after")
    def _tested_metric_is_gated(self) -> GatePolicy:
        metric = self.significance.metric if self.significance else None
        if metric is not None and metric not in self.max_drop:
            raise ValueError(f"significance.metric {metric!r} has no max_drop entry to relax")
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> GatePolicy:
        """Validate a config dict (e.g. the ``[gate]`` table of a TOML file)."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise ConfigError(
                f"invalid gate policy: {exc}. Help: e.g. mode = 'vector', floors = "
                "{'hit@5' = 0.8}, max_drop = {'ndcg@10' = 0.005}, significance = {alpha = 0.05}."
            ) from exc


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
) -> GateDecision:
    """Decide whether ``candidate`` may replace ``production`` under ``policy``.

    Args:
        candidate: the new index's metrics, or a mapping mode -> metrics (``policy.mode`` is read).
        production: the production index's metrics on the same golden set; None on the first run
            (then only floors are checked).
        policy: floors, allowed drops, optional significance test.

    Returns:
        GateDecision; ``reasons`` holds one line per failed check, plus notes (first run, drops
        let through as not significant).

    Raises:
        ConfigError: a policy metric is not in the results, or the mode is missing.
        GoldenSetError: candidate and production were evaluated on different golden sets.
    """
    cand = _for_mode(candidate, policy.mode, "candidate")
    prod = None if production is None else _for_mode(production, policy.mode, "production")
    checks: list[Check] = []
    notes: list[str] = []
    for name, floor in policy.floors.items():
        value = cand.metric(name)
        ok = value >= floor - _EPS
        sign = ">=" if ok else "<"
        checks.append(
            Check(f"floor:{name}", value, floor, ok, f"{name} {value:.3f} {sign} floor {floor:.3f}")
        )
    if prod is None:
        notes.append("first run: no production index to compare with, so only floors were checked")
    else:
        _same_golden(cand, prod)
        checks += [
            _regression(name, allowed, cand, prod, policy, notes)
            for name, allowed in policy.max_drop.items()
        ]
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


def _regression(
    name: str,
    allowed: float,
    cand: EvalMetrics,
    prod: EvalMetrics,
    policy: GatePolicy,
    notes: list[str],
) -> Check:
    new, old = cand.metric(name), _production_metric(prod, name)
    drop = old - new
    verb = "dropped" if drop > 0 else "rose" if drop < 0 else "moved"
    msg = (
        f"{name} {verb} {100 * abs(drop):.1f} points vs production ({old:.3f} -> {new:.3f}), "
        f"allowed {100 * allowed:.1f}"
    )
    if drop <= allowed + _EPS:
        return Check(f"max_drop:{name}", drop, allowed, True, msg)
    sig = policy.significance
    if sig is None or sig.metric not in (None, name):
        return Check(f"max_drop:{name}", drop, allowed, False, msg)
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
        return Check(
            f"max_drop:{name}", drop, allowed, True, msg + f"; not significant (p={p:.3g})", p
        )
    return Check(
        f"max_drop:{name}",
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
