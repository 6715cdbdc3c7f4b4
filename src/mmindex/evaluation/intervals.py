"""Confidence intervals of aggregate metrics: a bootstrap over queries (``scipy.stats.bootstrap``).

A golden set is a sample of the queries users type, so an aggregate (the mean nDCG@10 over 82
queries) is an estimate; its interval says how far another sample of the same size might land.
Queries are resampled with replacement, every metric of a resample at once (one vectorised call).

Choices, and why (measured on the sample golden set's 82 hybrid queries, 21 metrics, on this
checkout's shared 2-core box; docs/evaluation.md has the commands):

* 95 % level, :data:`N_RESAMPLES` = 2,000 resamples: 66 ms per call, and the endpoints of the
  nDCG@10 interval move by 0.003 (sd over seeds) around a half-width of 0.068. scipy's default
  of 9,999 resamples costs 530 ms per call (8x) for endpoints that move by 0.0015 instead.
* BCa (bias-corrected and accelerated) up to :data:`BCA_MAX_QUERIES` queries: per-query values of
  hit@k are 0/1 and nDCG is skewed near 1, where BCa's coverage beats the percentile method on
  small segments. Its jackknife costs n^2 per metric (1,000 queries: 0.6 s against 0.2 s), and
  beyond a few hundred queries the mean's sampling distribution is near normal, where the
  percentile interval is as good: so the percentile method above that.
* A metric that is constant over the queries (every hit@10 is 1) has the interval [v, v]; BCa is
  undefined there (scipy warns and returns NaN), so such columns never reach scipy, and a column
  BCa still cannot bound (e.g. one non-zero query) falls back to the percentile method.
* Seeded (:data:`SEED`): the same per-query values give the same interval on every run.
* Memory is bounded: scipy materialises ``batch x queries x metrics`` floats per call, so
  ``batch`` is sized to ~32 MiB whatever the golden set's size.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

CONFIDENCE = 0.95
N_RESAMPLES = 2_000
BCA_MAX_QUERIES = 500
SEED = 0
_BATCH_FLOATS = 4_000_000  # floats per vectorised statistic call: 32 MiB


def method_for(n: int) -> str:
    """The bootstrap interval method used for ``n`` queries (``BCa`` or ``percentile``)."""
    return "BCa" if n <= BCA_MAX_QUERIES else "percentile"


def describe(n: int) -> dict[str, Any]:
    """What the intervals of an evaluation on ``n`` queries are (for reports)."""
    return {"level": CONFIDENCE, "method": method_for(n), "n_resamples": N_RESAMPLES,
            "seed": SEED, "over": "queries"}


def bootstrap_intervals(
    per_query: Mapping[str, Mapping[str, float]],
    names: Sequence[str] | None = None,
    *,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> dict[str, tuple[float, float]]:
    """The bootstrap confidence interval of the mean of each metric over the queries.

    Args:
        per_query: query id -> metric name -> value (:attr:`EvalMetrics.per_query`).
        names: metrics to bound; default every metric the first query has. A metric some query
            lacks (e.g. diversity, which is not per query) is skipped.
        confidence: the interval's level.
        n_resamples: bootstrap resamples.
        seed: seed of the resampling, so a report is reproducible.

    Returns:
        metric name -> (low, high); empty when there are no queries, or when scipy (the
        ``stats`` extra; the core install leaves it out) is not installed. One query gives
        [v, v].
    """
    import numpy as np

    from mmindex.errors import installed

    if not per_query or not installed("scipy"):
        return {}
    rows = list(per_query.values())
    names = [n for n in (names if names is not None else rows[0])
             if all(n in r for r in rows)]
    if not names:
        return {}
    values = np.array([[r[n] for n in names] for r in rows], dtype=float)
    # identical columns (hit@k and recall@k with one relevant doc per query) are bounded once
    values, back = np.unique(values, axis=1, return_inverse=True)
    low, high = values.mean(axis=0), values.mean(axis=0)
    varying = np.flatnonzero(np.ptp(values, axis=0) > 1e-12)
    if len(rows) > 1 and len(varying):
        method = method_for(len(rows))
        lo, hi = _bootstrap(values[:, varying], method, confidence, n_resamples, seed)
        bad = np.flatnonzero(~(np.isfinite(lo) & np.isfinite(hi)))
        if len(bad) and method == "BCa":  # BCa cannot bound it: the percentile interval can
            lo[bad], hi[bad] = _bootstrap(values[:, varying[bad]], "percentile", confidence,
                                          n_resamples, seed)
        low[varying], high[varying] = lo, hi
    back = np.ravel(back)
    return {n: (_clip(low[back[i]]), _clip(high[back[i]])) for i, n in enumerate(names)}


def _bootstrap(values: Any, method: str, confidence: float, n_resamples: int,
               seed: int) -> tuple[Any, Any]:
    import numpy as np
    from scipy import stats

    batch = max(1, _BATCH_FLOATS // values.size)
    with warnings.catch_warnings():  # a degenerate column is handled by the caller
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        ci = stats.bootstrap((values,), np.mean, axis=0, vectorized=True,
                             n_resamples=n_resamples, batch=batch, method=method,
                             confidence_level=confidence, rng=np.random.default_rng(seed)
                             ).confidence_interval
    return np.array(ci.low, dtype=float, ndmin=1), np.array(ci.high, dtype=float, ndmin=1)


def _clip(x: float) -> float:
    """Round off float noise (an endpoint of 0.30000000000000004) for readable JSON."""
    return float(round(x, 12)) if math.isfinite(x) else float("nan")
