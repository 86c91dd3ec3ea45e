"""PD backtesting statistics against scipy on constructed cases, and on synthetic data whose
true PD is known (a calibrated PD must be green, a halved one red)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn.metrics import roc_auc_score

from credit_scoring.data.synthetic import generate
from credit_scoring.monitoring.backtest_stats import (
    binomial_p_value,
    estimate_performance,
    grade_backtest,
    hosmer_lemeshow,
    jeffreys_p_value,
    migration_matrix,
    traffic_light,
)
from credit_scoring.scoring.grades import MasterScale

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("n", "d", "p"), [(100, 0, 0.01), (100, 5, 0.02), (1000, 31, 0.02), (40, 40, 0.5), (7, 1, 0.3)]
)
def test_binomial_p_value_is_scipys_one_sided_binomtest(n: int, d: int, p: float) -> None:
    expected = stats.binomtest(d, n, p, alternative="greater").pvalue
    assert binomial_p_value(n, d, p) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("n", "d", "p"), [(100, 0, 0.01), (100, 5, 0.02), (1000, 31, 0.02), (12, 3, 0.1)]
)
def test_jeffreys_p_value_is_the_posterior_mass_below_the_pd(n: int, d: int, p: float) -> None:
    a, b = d + 0.5, n - d + 0.5
    mass, _ = integrate.quad(lambda t: stats.beta.pdf(t, a, b), 0, p, limit=200)
    assert jeffreys_p_value(n, d, p) == pytest.approx(mass, rel=1e-7)


def test_jeffreys_known_value() -> None:
    # 1000 obligors at PD 2% with 28 defaults: the posterior Beta(28.5, 972.5) puts ~4.1% below 2%.
    assert jeffreys_p_value(1000, 28, 0.02) == pytest.approx(0.041, abs=0.001)
    assert traffic_light(jeffreys_p_value(1000, 28, 0.02)) == "amber"
    assert traffic_light(jeffreys_p_value(1000, 20, 0.02)) == "green"
    assert traffic_light(jeffreys_p_value(1000, 45, 0.02)) == "red"


def test_bad_counts_are_refused_with_the_numbers() -> None:
    with pytest.raises(ValueError, match="defaults must lie in"):
        binomial_p_value(10, 11, 0.1)
    with pytest.raises(ValueError, match="n must be positive"):
        jeffreys_p_value(0, 0, 0.1)
    with pytest.raises(ValueError, match="red_below < amber_below"):
        traffic_light(0.5, amber_below=0.01, red_below=0.05)


def test_hosmer_lemeshow_matches_chi_square_by_hand() -> None:
    n, d, p = [200, 300, 100, 0], [2, 12, 11, 0], [0.01, 0.03, 0.08, 0.2]
    hl = hosmer_lemeshow(n, d, p)
    by_hand = sum(
        (di - ni * pi) ** 2 / (ni * pi * (1 - pi))
        for ni, di, pi in zip(n[:3], d[:3], p[:3], strict=True)
    )
    assert hl.dof == 3  # the empty group is left out
    assert hl.statistic == pytest.approx(by_hand)
    assert hl.p_value == pytest.approx(stats.chi2.sf(by_hand, 3))


def test_migration_matrix_counts_and_row_shares() -> None:
    counts, shares = migration_matrix([0, 0, 1, 1, 1, 2], [0, 1, 1, 1, 2, 2], n_grades=4)
    assert counts.tolist() == [[1, 1, 0, 0], [0, 2, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert shares[1].tolist() == pytest.approx([0, 2 / 3, 1 / 3, 0])
    assert shares[3].tolist() == [0, 0, 0, 0]
    assert counts.sum() == 6  # every obligor is in the matrix once


def test_estimated_auc_is_the_mean_auc_of_outcomes_drawn_from_the_pds() -> None:
    rng = np.random.default_rng(3)
    p = rng.beta(1.2, 12, size=3000)
    est = estimate_performance(p)
    draws = [roc_auc_score(rng.random(len(p)) < p, p) for _ in range(200)]
    assert est.expected_auc == pytest.approx(np.mean(draws), abs=0.005)
    assert est.expected_default_rate == pytest.approx(p.mean())
    assert est.n == 3000


def _synthetic_backtest(scale: float, min_n: int = 100) -> list[str]:
    data = generate(60_000, seed=11)
    ms = MasterScale()
    pd_pred = np.clip(data["true_pd"].to_numpy() * scale, 0, 1)
    rows = grade_backtest(
        ms.grade_index(pd_pred),
        pd_pred,
        data["default"].to_numpy(),
        ms.labels,
        ms.lower_bounds,
        ms.upper_bounds,
    )
    assert sum(r.n for r in rows) == len(data)  # every obligor in exactly one grade
    assert sum(r.defaults for r in rows) == int(data["default"].sum())
    return [r.light for r in rows if r.n >= min_n]


def test_calibrated_pds_are_green_and_halved_pds_go_red() -> None:
    calibrated = _synthetic_backtest(1.0)
    assert calibrated and set(calibrated) <= {"green", "amber"}
    assert calibrated.count("amber") <= 1  # one amber in 8 grades at 5% is chance, not a signal
    # Halved PDs: every well-populated grade is red (thin grades may only reach amber).
    halved = _synthetic_backtest(0.5, min_n=2000)
    assert halved and set(halved) == {"red"}


def test_master_scale_grades() -> None:
    ms = MasterScale()
    assert ms.grades([0.0, 0.004999, 0.005, 0.2, 0.99, 1.0]).tolist() == [
        "A",
        "A",
        "B",
        "G",
        "H",
        "H",
    ]
    assert [ms.grade(p) for p in (0.0, 0.005, 0.2, 1.0)] == ["A", "B", "G", "H"]
    assert ms.central_pd()["B"] == pytest.approx((0.005 * 0.01) ** 0.5)
    with pytest.raises(ValueError, match="last upper bound must be 1"):
        MasterScale(labels=("x", "y"), upper_bounds=(0.1, 0.5))
    with pytest.raises(ValueError, match="increase strictly"):
        MasterScale(labels=("x", "y", "z"), upper_bounds=(0.1, 0.1, 1.0))
