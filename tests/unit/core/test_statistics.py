"""Bootstrap intervals, DeLong's test and the paired bootstrap against known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from credit_scoring.evaluation.metrics import ks_statistic
from credit_scoring.evaluation.statistics import (
    bootstrap_intervals,
    delong,
    fast_auc,
    fast_ks,
    non_inferior,
    paired_bootstrap,
)

pytestmark = pytest.mark.unit


def _two_models(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(signal - 1.5)))).astype(np.int64)
    good = signal + rng.normal(0, 0.6, n)
    worse = signal + rng.normal(0, 1.4, n)
    return y, 1 / (1 + np.exp(-good)), 1 / (1 + np.exp(-worse))


def test_fast_metrics_match_reference_implementations() -> None:
    y, p, _ = _two_models(800)
    p = np.round(p, 2)  # ties
    assert fast_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert fast_ks(y, p) == pytest.approx(ks_statistic(y, p), abs=1e-12)


def test_bootstrap_interval_covers_point_and_shrinks_with_rows() -> None:
    y, p, _ = _two_models(400)
    small = bootstrap_intervals(y, p, n_boot=300)["auc"]
    y2, p2, _ = _two_models(6000, seed=1)
    large = bootstrap_intervals(y2, p2, n_boot=300)["auc"]
    assert small.lower < small.estimate < small.upper
    assert (large.upper - large.lower) < 0.5 * (small.upper - small.lower)
    assert small.pessimistic("auc") == small.lower
    brier = bootstrap_intervals(y, p, ["brier"], n_boot=200)["brier"]
    assert brier.pessimistic("brier") == brier.upper


def test_delong_matches_bootstrap_and_detects_a_real_difference() -> None:
    y, good, worse = _two_models()
    test = delong(y, good, worse)
    assert test.challenger == pytest.approx(roc_auc_score(y, good), abs=1e-12)
    assert test.champion == pytest.approx(roc_auc_score(y, worse), abs=1e-12)
    assert test.difference > 0 and test.lower > 0 and test.p_value is not None
    assert test.p_value < 1e-4
    boot = paired_bootstrap(y, good, worse, "auc", n_boot=400)
    assert test.se == pytest.approx(boot.se, rel=0.25)  # two estimates of one standard error


def test_identical_models_are_not_different_and_non_inferior() -> None:
    y, good, _ = _two_models(1000)
    same = delong(y, good, good)
    assert same.difference == 0 and same.p_value == 1.0
    assert non_inferior(same, 0.0)


def test_non_inferiority_uses_the_bound_not_the_point() -> None:
    y, good, worse = _two_models(600, seed=3)
    # the worse model as challenger: its point difference may be within the margin while
    # the bound is not
    diff = delong(y, worse, good)
    margin = -diff.difference + 0.001  # the point estimate alone would pass
    assert diff.difference >= -margin
    assert not non_inferior(diff, margin)
    brier = paired_bootstrap(y, good, worse, "brier", n_boot=300)
    assert brier.difference < 0 and non_inferior(brier, 0.0)
