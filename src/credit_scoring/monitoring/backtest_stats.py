"""PD backtesting statistics: predicted PD against observed defaults, per rating grade.

Pure functions on arrays (no MLflow, no I/O), checked against scipy on constructed cases:

* **Binomial test** (one-sided): with ``n`` obligors of predicted PD ``p`` and ``d`` observed
  defaults, the p-value is ``P(X >= d)`` for ``X ~ Binomial(n, p)``. A small p-value means the PD
  underestimates risk, the error a supervisor cares about (Basel Committee, BCBS WP14).
* **Jeffreys test** (ECB's instructions for validation reporting of IRB models): the posterior of
  the default rate under the Jeffreys prior is ``Beta(d + 1/2, n - d + 1/2)``; the p-value is its
  CDF at ``p``, i.e. the posterior probability that the true default rate is at most the
  predicted PD. It behaves well for small ``n`` and ``d = 0``.
* **Traffic lights**: green when the p-value is at least ``amber_below`` (default 0.05), red below
  ``red_below`` (default 0.001, the 99.9% confidence level of the IRB formula), amber in between.
* **Hosmer-Lemeshow over grades**: ``sum (d_g - n_g p_g)^2 / (n_g p_g (1 - p_g))`` compared with a
  chi-square with ``G`` degrees of freedom (out-of-sample: no parameters were fitted on these
  outcomes, so none are subtracted).
* **Grade migration matrix**: counts and row shares of grade at one date against another.
* **Confidence-based performance estimation** (the idea of NannyML's CBPE): before outcomes
  arrive, a calibrated PD is the expected default indicator, so the expected confusion matrix at
  each threshold, and from it the expected ROC AUC and default rate, follow from the PDs alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

Light = Literal["green", "amber", "red"]


def binomial_p_value(n: int, defaults: int, pd_: float) -> float:
    """One-sided binomial p-value ``P(X >= defaults)``, ``X ~ Binomial(n, pd_)``."""
    _check_counts(n, defaults)
    if defaults == 0:
        return 1.0
    return float(stats.binom.sf(defaults - 1, n, pd_))


def jeffreys_p_value(n: int, defaults: int, pd_: float) -> float:
    """Jeffreys test p-value: ``Beta(defaults + 1/2, n - defaults + 1/2).cdf(pd_)``."""
    _check_counts(n, defaults)
    return float(stats.beta.cdf(pd_, defaults + 0.5, n - defaults + 0.5))


def traffic_light(p_value: float, amber_below: float = 0.05, red_below: float = 0.001) -> Light:
    """Green / amber / red for a one-sided p-value (thresholds are significance levels)."""
    if not 0 < red_below < amber_below < 1:
        raise ValueError("need 0 < red_below < amber_below < 1")
    if p_value < red_below:
        return "red"
    if p_value < amber_below:
        return "amber"
    return "green"


@dataclass(frozen=True)
class HosmerLemeshow:
    statistic: float
    dof: int
    p_value: float


def hosmer_lemeshow(
    n: Sequence[int] | NDArray[np.int64],
    defaults: Sequence[int] | NDArray[np.int64],
    pd_: Sequence[float] | NDArray[np.float64],
) -> HosmerLemeshow:
    """Hosmer-Lemeshow chi-square over groups (grades) with ``G`` degrees of freedom; groups with
    no obligors are left out."""
    n_a = np.asarray(n, dtype=np.float64)
    d_a = np.asarray(defaults, dtype=np.float64)
    p_a = np.clip(np.asarray(pd_, dtype=np.float64), 1e-12, 1 - 1e-12)
    keep = n_a > 0
    n_a, d_a, p_a = n_a[keep], d_a[keep], p_a[keep]
    expected = n_a * p_a
    statistic = float(np.sum((d_a - expected) ** 2 / (expected * (1 - p_a))))
    dof = int(keep.sum())
    return HosmerLemeshow(statistic, dof, float(stats.chi2.sf(statistic, dof)) if dof else 1.0)


@dataclass(frozen=True)
class GradeResult:
    grade: str
    pd_from: float
    pd_to: float
    n: int
    defaults: int
    observed_default_rate: float
    mean_pd: float
    binomial_p: float
    jeffreys_p: float
    light: Light

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def grade_backtest(
    grade_index: ArrayLike,
    pd_: ArrayLike,
    defaulted: ArrayLike,
    labels: Sequence[str],
    lower: Sequence[float],
    upper: Sequence[float],
    amber_below: float = 0.05,
    red_below: float = 0.001,
) -> list[GradeResult]:
    """Per grade: obligors, defaults, observed rate, mean predicted PD (the PD tested), the
    binomial and Jeffreys p-values and the traffic light of the Jeffreys test (the binomial
    one is reported beside it). Grades without obligors get n=0, NaN rates and green."""
    idx = np.asarray(grade_index, dtype=np.intp)
    p = np.asarray(pd_, dtype=np.float64)
    y = np.asarray(defaulted, dtype=np.float64)
    if not (len(idx) == len(p) == len(y)):
        raise ValueError("grade_index, pd and defaulted must have the same length")
    if len(y) and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("defaulted must hold 0/1 values only")
    rows: list[GradeResult] = []
    for g, label in enumerate(labels):
        mask = idx == g
        n = int(mask.sum())
        d = int(y[mask].sum())
        if n == 0:
            rows.append(
                GradeResult(
                    label, lower[g], upper[g], 0, 0, float("nan"), float("nan"), 1.0, 1.0, "green"
                )
            )
            continue
        mean_pd = float(p[mask].mean())
        jeff = jeffreys_p_value(n, d, mean_pd)
        rows.append(
            GradeResult(
                grade=label,
                pd_from=lower[g],
                pd_to=upper[g],
                n=n,
                defaults=d,
                observed_default_rate=d / n,
                mean_pd=mean_pd,
                binomial_p=binomial_p_value(n, d, mean_pd),
                jeffreys_p=jeff,
                light=traffic_light(jeff, amber_below, red_below),
            )
        )
    return rows


def migration_matrix(
    from_index: ArrayLike, to_index: ArrayLike, n_grades: int
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Counts ``[i, j]`` of obligors in grade ``i`` at the first date and ``j`` at the second,
    and the row shares (rows of grades with no obligor are all zero)."""
    a = np.asarray(from_index, dtype=np.intp)
    b = np.asarray(to_index, dtype=np.intp)
    if len(a) != len(b):
        raise ValueError("both dates must list the same obligors")
    counts = np.zeros((n_grades, n_grades), dtype=np.int64)
    np.add.at(counts, (a, b), 1)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    return counts, shares


@dataclass(frozen=True)
class EstimatedPerformance:
    """Expected figures of a calibrated model on applicants whose outcomes are not known yet."""

    n: int
    expected_default_rate: float
    expected_auc: float


def estimate_performance(pd_: ArrayLike) -> EstimatedPerformance:
    """Confidence-based performance estimation from calibrated PDs alone.

    Each PD is the expected value of its default indicator, so at a threshold ``t`` the expected
    true positives are ``sum(p_i for p_i >= t)`` and false positives ``sum(1 - p_i for p_i >= t)``;
    the expected ROC curve runs through those points and its area is the expected AUC. Valid
    only while the model stays calibrated on the new population (the assumption CBPE makes).
    """
    p = np.sort(np.clip(np.asarray(pd_, dtype=np.float64), 0.0, 1.0))[::-1]
    if len(p) == 0:
        raise ValueError("no predictions to estimate from")
    pos, neg = p.sum(), (1 - p).sum()
    if pos <= 0 or neg <= 0:
        return EstimatedPerformance(len(p), float(p.mean()), float("nan"))
    # Thresholds at distinct PDs: ties enter the curve together (a diagonal step).
    distinct = np.r_[np.flatnonzero(np.diff(p) != 0), len(p) - 1]
    tpr = np.r_[0.0, np.cumsum(p)[distinct] / pos]
    fpr = np.r_[0.0, np.cumsum(1 - p)[distinct] / neg]
    auc = float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2))
    return EstimatedPerformance(len(p), float(p.mean()), auc)


def _check_counts(n: int, defaults: int) -> None:
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= defaults <= n:
        raise ValueError(f"defaults must lie in [0, n={n}], got {defaults}")
