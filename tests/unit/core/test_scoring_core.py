"""Score scaling, encoding, metrics and the synthetic generator."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from credit_scoring.data.io import german_credit_schema, load_german_credit
from credit_scoring.data.synthetic import generate, synthetic_schema
from credit_scoring.data.validation import validate_training_frame
from credit_scoring.evaluation.metrics import (
    classification_metrics,
    expected_calibration_error,
    ks_statistic,
)
from credit_scoring.evaluation.psi import psi
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.scoring.scaling import ScoreScaling

pytestmark = pytest.mark.unit


def test_pdo_scaling() -> None:
    s = ScoreScaling(pdo=20, base_points=600, base_odds=50)
    p_at_base = 1 / 51  # odds good:bad = 50
    assert s.points(p_at_base) == pytest.approx(600)
    # doubling the odds adds PDO points
    assert s.points(1 / 101) == pytest.approx(620, abs=0.01)
    assert s.pd_at(600) == pytest.approx(p_at_base)
    assert s.log_odds_to_points(math.log(2)) == pytest.approx(-20)


def test_decision_bands() -> None:
    s = ScoreScaling(approve_below_pd=0.1, decline_above_pd=0.4)
    assert s.decisions([0.05, 0.1, 0.39, 0.4, 0.9]).tolist() == [
        "approve",
        "review",
        "review",
        "decline",
        "decline",
    ]
    with pytest.raises(ValueError, match="approve_below_pd must be below"):
        ScoreScaling(approve_below_pd=0.5, decline_above_pd=0.4)


def test_encoder_frame_and_records_agree() -> None:
    schema = german_credit_schema()
    data = validate_training_frame(load_german_credit().head(50), schema)
    enc = FeatureEncoder(schema)
    from_frame = enc.encode_frame(data.features)
    from_records = enc.encode_records(data.features.to_dict(orient="records"))
    np.testing.assert_array_equal(from_frame, from_records)
    # unseen category and missing field -> NaN (LightGBM's missing)
    row = enc.encode_records([{"purpose": "yacht"}])[0]
    assert np.isnan(row).all()


def test_metrics_on_known_cases() -> None:
    y = np.array([0, 0, 1, 1])
    perfect = classification_metrics(y, np.array([0.1, 0.2, 0.8, 0.9]))
    assert perfect["auc"] == 1 and perfect["gini"] == 1 and perfect["ks"] == 1
    assert ks_statistic(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0
    assert expected_calibration_error(np.array([0, 1] * 50), np.full(100, 0.5)) == 0
    rng = np.random.default_rng(0)
    a = rng.normal(size=5000)
    assert psi(a, rng.normal(size=5000)) < 0.02
    assert psi(a, rng.normal(1, 1, size=5000)) > 0.25


def test_synthetic_is_seeded_and_calibrated() -> None:
    one, two = generate(20_000, seed=7), generate(20_000, seed=7)
    assert one.equals(two)
    assert not one.equals(generate(20_000, seed=8))
    # the realised default rate matches the known true PD
    assert one["default"].mean() == pytest.approx(one["true_pd"].mean(), abs=0.01)
    validate_training_frame(one, synthetic_schema())


def test_synthetic_truth_is_non_linear_and_drift_moves_the_population() -> None:
    from sklearn.linear_model import LogisticRegression

    from credit_scoring.data.synthetic import ground_truth_auc

    frame = generate(20_000, seed=5)
    truth = ground_truth_auc(frame)
    assert 0.78 < truth < 0.9
    # A linear logistic regression on the raw features stays clearly below the truth.
    x = frame[synthetic_schema().feature_names[:7]].to_numpy()
    linear = LogisticRegression(max_iter=3000).fit(x[:15_000], frame["default"][:15_000])
    linear_auc = roc_auc_score(frame["default"][15_000:], linear.predict_proba(x[15_000:])[:, 1])
    assert linear_auc < ground_truth_auc(frame.iloc[15_000:]) - 0.02
    # usual loan terms dominate; durations are not uniform
    assert frame["duration_months"].isin([12, 24, 36, 48, 60]).mean() > 0.7
    poorer = generate(20_000, seed=5, drift="income", drift_strength=0.3)
    assert poorer["annual_income"].median() < 0.75 * frame["annual_income"].median()
    assert poorer["default"].mean() > frame["default"].mean()
    mix = generate(20_000, seed=5, drift="product_mix")
    assert (mix["purpose"] == "business").mean() > 1.5 * (frame["purpose"] == "business").mean()
    with pytest.raises(ValueError, match="drift"):
        generate(10, drift="bogus")  # type: ignore[arg-type]
