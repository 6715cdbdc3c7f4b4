"""The p-values of the gate's paired tests, in numpy: the core install carries no scipy (its
140 MB were the difference between a reader's install under and over 1 GB).

Both follow ``scipy.stats`` exactly where the results are defined: :func:`ttest_1samp_pvalue` is
``ttest_1samp(diff, 0).pvalue`` (Student's t distribution through the regularised incomplete beta
function), :func:`sign_flip_pvalue` is ``permutation_test((diff,), np.mean,
permutation_type="samples")``: exact over all ``2**n`` sign flips when that is at most
``n_resamples`` (the observed one counted), else ``n_resamples`` random flips with the observed
statistic added to the null (``(hits + 1) / (n + 1)``); two-sided is twice the smaller side.
``tests/test_eval_metrics.py`` compares both with scipy.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                    -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t > 0 else 1.0 - tail


def ttest_1samp_pvalue(diff: np.ndarray, alternative: str) -> float:
    """p-value of the one-sample t-test of ``mean(diff) == 0`` (needs a non-zero variance)."""
    n = len(diff)
    t = float(diff.mean() / (diff.std(ddof=1) / math.sqrt(n)))
    if alternative == "greater":
        return _t_sf(t, n - 1)
    if alternative == "less":
        return _t_sf(-t, n - 1)
    return min(1.0, 2.0 * _t_sf(abs(t), n - 1))


def sign_flip_pvalue(diff: np.ndarray, alternative: str, n_resamples: int,
                     rng: np.random.Generator) -> float:
    """p-value of the paired randomisation test of the mean difference (see the module)."""
    n = len(diff)
    observed = float(diff.mean())
    gamma = abs(np.finfo(float).eps * 100 * observed)  # scipy's tolerance for ties
    if 2 ** n <= n_resamples:
        chunks = [np.array(list(itertools.product((1.0, -1.0), repeat=n)))]
        adjust, total = 0, 2 ** n
    else:  # in chunks: 10,000 flips of 5,000 queries would be 400 MB at once
        step = max(1, 2 ** 22 // n)
        chunks = (1.0 - 2.0 * rng.integers(0, 2, (min(step, n_resamples - i), n), np.int8)
                  for i in range(0, n_resamples, step))
        adjust, total = 1, n_resamples
    greater = less = adjust
    for signs in chunks:
        null = signs @ diff / n
        greater += int((null >= observed - gamma).sum())
        less += int((null <= observed + gamma).sum())
    greater_p, less_p = greater / (total + adjust), less / (total + adjust)
    if alternative == "greater":
        return greater_p
    if alternative == "less":
        return less_p
    return min(1.0, 2.0 * min(greater_p, less_p))
