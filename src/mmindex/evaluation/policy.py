"""The gate's policy: what a candidate must meet to be promoted (the ``gate`` setting).

Floors and allowed drops on the whole golden set, an optional significance test, and the same
per segment of the golden set (:mod:`mmindex.evaluation.segments`). A policy written before
segments existed is still valid: it has none. :func:`mmindex.evaluation.gate.decide` applies it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mmindex.errors import ConfigError
from mmindex.evaluation.metrics import is_metric_name
from mmindex.evaluation.segments import MIN_SEGMENT_QUERIES
from mmindex.search.modes import MODE_CHOICES, MODES, POST_STEPS

_SEGMENT = re.compile(r"^[^=\s]+=[^=]+$")
#: a reported mode scored on the queries its fusion was fit on (``hybrid@in-sample``)
IN_SAMPLE_SUFFIX = "@in-sample"


def check_gateable(mode: str) -> None:
    """Raise a ValueError unless the gate may judge ``mode``: any mode of the one mode list
    (:data:`mmindex.search.modes.MODE_CHOICES`: a first stage and its post-steps), never an
    in-sample figure."""
    if mode.endswith(IN_SAMPLE_SUFFIX):
        held = mode.removesuffix(IN_SAMPLE_SUFFIX)
        raise ValueError(
            f"mode {mode!r} is scored on the queries its fusion was fit on (in-sample), so it is "
            f"reported, never gated; gate on {held!r} (held out) instead")
    if mode not in MODE_CHOICES:
        raise ValueError(f"mode {mode!r} is not a search mode; use one of {', '.join(MODES)}, "
                         f"optionally with {' / '.join('+' + s for s in POST_STEPS)} "
                         "(e.g. hybrid+rerank)")


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


def _check_thresholds(value: dict[str, float]) -> dict[str, float]:
    for name, threshold in value.items():
        if not is_metric_name(name):
            raise ValueError(
                f"unknown metric {name!r}; use map, or hit/recall/precision/mrr/ndcg@k")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"{name}: threshold {threshold} is outside [0, 1]")
    return value


class SegmentGate(BaseModel):
    """Floors and allowed drops on one segment's queries (``[gate.segments."lang=ko"]``).

    A segment's drop beyond ``max_drop`` rejects only when the paired test on that segment's
    per-query values finds it significant (the policy's ``significance`` settings, else the
    defaults: permutation, one-sided, alpha 0.05): a segment is a small sample, and noise on it
    must not block. A segment with fewer than ``min_queries`` queries is not judged, and the
    decision says so.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    floors: dict[str, float] = Field(default_factory=dict, description="metric -> minimum value")
    max_drop: dict[str, float] = Field(
        default_factory=dict, description="metric -> largest allowed drop vs production")
    min_queries: int = Field(
        MIN_SEGMENT_QUERIES, ge=1, description="fewer queries than this: not judged, reported")

    @field_validator("floors", "max_drop")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_thresholds(value)


class GatePolicy(BaseModel):
    """When a candidate index may be promoted; build it from config with :meth:`from_mapping`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: str = Field(
        "vector",
        description="Whose metrics are gated: a search mode (vector, fts, hybrid, ...), optionally "
                    "reranked and/or diversified (e.g. hybrid+rerank; evaluate with --rerank / "
                    "--diversify); never an in-sample figure (hybrid@in-sample)"
    )
    floors: dict[str, float] = Field(default_factory=dict, description="metric -> minimum value")
    max_drop: dict[str, float] = Field(
        default_factory=lambda: {"ndcg@10": 0.005},
        description="metric -> largest allowed drop vs production, absolute (0.005 = 0.5 point)",
    )
    significance: Significance | None = None
    segments: dict[str, SegmentGate] = Field(
        default_factory=dict,
        description="segment -> its floors and max_drop: 'lang=ko', 'length=one-word', "
                    "'modality=image', a golden query's own segment ('subject=math'), or "
                    "'lang=*' for each language (docs/evaluation.md)")

    @field_validator("floors", "max_drop")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_thresholds(value)

    @field_validator("mode")
    @classmethod
    def _gateable(cls, value: str) -> str:
        check_gateable(value)
        return value

    @field_validator("segments")
    @classmethod
    def _segment_names(cls, value: dict[str, SegmentGate]) -> dict[str, SegmentGate]:
        for key in value:
            if not _SEGMENT.match(key):
                raise ValueError(f"segment {key!r} is not 'name=value' (e.g. 'lang=ko', 'lang=*')")
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
                "{'hit@5' = 0.8}, max_drop = {'ndcg@10' = 0.005}, significance = {alpha = 0.05}, "
                "segments = {'lang=ko' = {max_drop = {'ndcg@10' = 0.02}}}."
            ) from exc
