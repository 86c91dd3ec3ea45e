"""The one PSI of the platform (gate stability check and drift monitoring): binning, the
empty-bin rule, and both callers giving the same number."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from credit_scoring.evaluation.psi import (
    PSI_EMPTY_BIN_SHARE,
    bin_counts,
    psi,
    psi_from_counts,
    quantile_edges,
)
from credit_scoring.monitoring.statistics import numeric_psi

pytestmark = pytest.mark.unit


def _textbook(a: list[float], e: list[float]) -> float:
    return sum((x - y) * math.log(x / y) for x, y in zip(a, e, strict=True))


def test_empty_bin_gets_the_floor_share_and_both_sides_are_renormalised() -> None:
    # Reference 50/50, window entirely in the first bin: the empty bin would make PSI infinite.
    value = psi_from_counts([50, 50], [100, 0])
    a = [1 / (1 + PSI_EMPTY_BIN_SHARE), PSI_EMPTY_BIN_SHARE / (1 + PSI_EMPTY_BIN_SHARE)]
    assert math.isfinite(value)
    assert value == pytest.approx(_textbook(a, [0.5, 0.5]), rel=1e-12)
    # The same with the empty bin on the reference side (PSI is symmetric).
    assert psi_from_counts([100, 0], [50, 50]) == pytest.approx(value, rel=1e-12)


def test_a_bin_empty_on_both_sides_adds_nothing_of_its_own() -> None:
    base = psi_from_counts([50, 50], [30, 70])
    with_empty = psi_from_counts([50, 50, 0], [30, 70, 0])
    # Only the renormalisation by 1 + floor remains.
    assert with_empty == pytest.approx(base / (1 + PSI_EMPTY_BIN_SHARE), rel=1e-9)
    assert psi_from_counts([10, 0, 30], [10, 0, 30]) == 0.0


def test_bins_are_reference_quantiles_closed_on_the_left() -> None:
    edges = quantile_edges([1.0, 2.0, 3.0, 4.0], n_bins=2)
    assert edges.tolist() == [2.5]
    assert bin_counts([1.0, 2.5, 2.6, 10.0], edges).tolist() == [1, 3]
    # Tied quantiles merge into one edge (never an empty duplicate bin).
    assert quantile_edges([0.0] * 8 + [1.0, 2.0], n_bins=5).tolist() == pytest.approx([0.0, 0.2])


@pytest.mark.parametrize("shift", [0.0, 0.5, 5.0])
def test_gate_and_drift_compute_the_same_psi(shift: float) -> None:
    rng = np.random.default_rng(3)
    reference = rng.normal(600, 40, 2000)
    window = rng.normal(600 + shift * 40, 40, 500)  # shift 5: most bins of the window empty
    drift_value, _ = numeric_psi(pd.Series(reference), pd.Series(window))
    assert psi(reference, window) == drift_value
    assert math.isfinite(drift_value)


@pytest.mark.parametrize(("expected", "actual"), [([50, 50], [30, 70]), ([10, 0, 30], [0, 25, 5])])
def test_psi_is_optbinnings_jeffrey_divergence(expected: list[int], actual: list[int]) -> None:
    # The formula is numpy (the API must not import optbinning); the number is optbinning's.
    from optbinning.binning.metrics import jeffrey

    e = np.maximum(np.asarray(expected) / sum(expected), PSI_EMPTY_BIN_SHARE)
    a = np.maximum(np.asarray(actual) / sum(actual), PSI_EMPTY_BIN_SHARE)
    reference = float(jeffrey(a / a.sum(), e / e.sum(), return_sum=True))
    assert psi_from_counts(expected, actual) == pytest.approx(reference, rel=1e-12)
