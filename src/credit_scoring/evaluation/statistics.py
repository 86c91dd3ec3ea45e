"""Uncertainty of holdout metrics and paired comparisons of two models on the same rows.

* :func:`bootstrap_intervals`: percentile confidence intervals of AUC, KS, Brier score and ECE by
  the stratified bootstrap (rows resampled within each class, so every replicate has both).
* :func:`delong`: DeLong's test for two correlated AUCs (the fast algorithm of Sun & Xu, 2014,
  "Fast implementation of DeLong's algorithm for comparing the areas under correlated receiver
  operating characteristic curves"): the difference, its standard error and confidence interval.
* :func:`paired_bootstrap`: confidence interval of the difference of any metric between two
  models scored on the same rows (the same resampled rows for both in every replicate).

Confidence levels are two-sided; the *lower* bound of a 95% interval is a one-sided 97.5% bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm, rankdata

from credit_scoring.evaluation.metrics import expected_calibration_error

#: Metrics where a higher value is better (the others: lower is better).
HIGHER_IS_BETTER = frozenset({"auc", "gini", "ks", "pr_auc"})


def fast_auc(y: NDArray[np.int64], p: NDArray[np.float64]) -> float:
    """AUC by the rank-sum (Mann-Whitney) formula, ties counted half."""
    pos = y == 1
    m, n = int(pos.sum()), int((~pos).sum())
    ranks = rankdata(p)
    return float((ranks[pos].sum() - m * (m + 1) / 2) / (m * n))


def fast_ks(y: NDArray[np.int64], p: NDArray[np.float64]) -> float:
    """KS distance between the PD distributions of bads and goods (same as scipy's ks_2samp)."""
    order = np.argsort(p, kind="stable")
    ys, ps = y[order], p[order]
    bad = np.cumsum(ys) / max(int(ys.sum()), 1)
    good = np.cumsum(1 - ys) / max(int((1 - ys).sum()), 1)
    last = np.r_[ps[1:] != ps[:-1], True]  # evaluate the CDFs after the last of tied values
    return float(np.max(np.abs(bad - good)[last]))


def brier(y: NDArray[np.int64], p: NDArray[np.float64]) -> float:
    return float(np.mean((p - y) ** 2))


def ece(y: NDArray[np.int64], p: NDArray[np.float64]) -> float:
    return expected_calibration_error(y, p)


METRIC_FUNCTIONS: dict[str, Callable[[NDArray[np.int64], NDArray[np.float64]], float]] = {
    "auc": fast_auc,
    "ks": fast_ks,
    "brier": brier,
    "ece": ece,
}


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval."""

    estimate: float
    lower: float
    upper: float
    level: float

    def pessimistic(self, metric: str) -> float:
        """The bound on the bad side: lower for higher-is-better metrics, upper otherwise."""
        return self.lower if metric in HIGHER_IS_BETTER else self.upper

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.estimate:.4f} [{self.lower:.4f}, {self.upper:.4f}]"


def _stratified_indices(
    y: NDArray[np.int64], n_boot: int, rng: np.random.Generator
) -> NDArray[np.intp]:
    """``n_boot`` x ``len(y)`` row indices, resampled within each class."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y != 1)
    return np.hstack(
        [
            pos[rng.integers(0, len(pos), size=(n_boot, len(pos)))],
            neg[rng.integers(0, len(neg), size=(n_boot, len(neg)))],
        ]
    )


def bootstrap_intervals(
    y: ArrayLike,
    p: ArrayLike,
    metrics: Sequence[str] = ("auc", "ks", "brier", "ece"),
    *,
    n_boot: int = 500,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Percentile bootstrap intervals of ``metrics`` (names of :data:`METRIC_FUNCTIONS`)."""
    y_arr, p_arr = np.asarray(y).astype(np.int64), np.asarray(p, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = _stratified_indices(y_arr, n_boot, rng)
    tail = (1 - level) / 2
    out = {}
    for m in metrics:
        fn = METRIC_FUNCTIONS[m]
        reps = np.array([fn(y_arr[i], p_arr[i]) for i in idx])
        lo, hi = np.quantile(reps, [tail, 1 - tail])
        out[m] = Interval(fn(y_arr, p_arr), float(lo), float(hi), level)
    return out


@dataclass(frozen=True)
class PairedDifference:
    """``challenger - champion`` for one metric on the same rows, with its uncertainty."""

    metric: str
    challenger: float
    champion: float
    difference: float
    lower: float
    upper: float
    level: float
    method: str
    se: float | None = None
    p_value: float | None = None  # two-sided, H0: no difference

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _delong_components(
    y: NDArray[np.int64], scores: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """AUCs (k,) and their DeLong covariance (k, k) for score rows ``scores`` (k, n)."""
    order = np.argsort(-y, kind="stable")  # positives first
    s = scores[:, order]
    m = int((y == 1).sum())
    n = s.shape[1] - m
    tx = np.apply_along_axis(rankdata, 1, s[:, :m])
    ty = np.apply_along_axis(rankdata, 1, s[:, m:])
    tz = np.apply_along_axis(rankdata, 1, s)
    aucs = tz[:, :m].sum(axis=1) / m / n - (m + 1.0) / 2.0 / n
    v01 = (tz[:, :m] - tx) / n
    v10 = 1.0 - (tz[:, m:] - ty) / m
    cov = np.atleast_2d(np.cov(v01)) / m + np.atleast_2d(np.cov(v10)) / n
    return aucs, cov


def delong(
    y: ArrayLike, challenger: ArrayLike, champion: ArrayLike, level: float = 0.95
) -> PairedDifference:
    """DeLong's paired test of two AUCs on the same rows (see the module docstring)."""
    y_arr = np.asarray(y).astype(np.int64)
    scores = np.vstack([np.asarray(challenger, float), np.asarray(champion, float)])
    aucs, cov = _delong_components(y_arr, scores)
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = math.sqrt(max(var, 0.0))
    z = float(norm.ppf(1 - (1 - level) / 2))
    p_value = float(2 * norm.sf(abs(diff) / se)) if se > 0 else (1.0 if diff == 0 else 0.0)
    return PairedDifference(
        metric="auc",
        challenger=float(aucs[0]),
        champion=float(aucs[1]),
        difference=diff,
        lower=diff - z * se,
        upper=diff + z * se,
        level=level,
        method="DeLong",
        se=se,
        p_value=p_value,
    )


def paired_bootstrap(
    y: ArrayLike,
    challenger: ArrayLike,
    champion: ArrayLike,
    metric: str,
    *,
    n_boot: int = 500,
    level: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """Percentile interval of ``metric(challenger) - metric(champion)`` on resampled rows."""
    y_arr = np.asarray(y).astype(np.int64)
    a, b = np.asarray(challenger, float), np.asarray(champion, float)
    fn = METRIC_FUNCTIONS[metric]
    idx = _stratified_indices(y_arr, n_boot, np.random.default_rng(seed))
    reps = np.array([fn(y_arr[i], a[i]) - fn(y_arr[i], b[i]) for i in idx])
    tail = (1 - level) / 2
    lo, hi = np.quantile(reps, [tail, 1 - tail])
    ca, cb = fn(y_arr, a), fn(y_arr, b)
    share = float(np.mean(reps <= 0)) if ca - cb > 0 else float(np.mean(reps >= 0))
    return PairedDifference(
        metric=metric,
        challenger=ca,
        champion=cb,
        difference=ca - cb,
        lower=float(lo),
        upper=float(hi),
        level=level,
        method="paired bootstrap",
        se=float(np.std(reps, ddof=1)),
        p_value=min(1.0, 2 * share),
    )


def non_inferior(diff: PairedDifference, margin: float) -> bool:
    """Non-inferiority of the challenger judged on the confidence bound, not the point.

    Higher-is-better metrics: the lower bound of the difference must be >= ``-margin``;
    lower-is-better (Brier, ECE): the upper bound must be <= ``margin``.
    """
    if diff.metric in HIGHER_IS_BETTER:
        return diff.lower >= -margin
    return diff.upper <= margin
