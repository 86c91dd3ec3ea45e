"""LightGBM's single-row C-API path gives exactly what ``Booster.predict`` gives."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from credit_scoring.scoring.single_row import (
    PREDICT_CONTRIB,
    PREDICT_RAW_SCORE,
    SingleRowPredictor,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4))
    x[rng.random(x.shape) < 0.05] = np.nan  # missing values take LightGBM's default branch
    y = (np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) > 0).astype(int)
    params = {"objective": "binary", "num_leaves": 7, "verbosity": -1, "num_threads": 1}
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=30)


def test_raw_score_and_contributions_match_booster_predict(booster: lgb.Booster) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 4))
    x[::7, 2] = np.nan
    raw_one = SingleRowPredictor(booster, PREDICT_RAW_SCORE, 4)
    contrib_one = SingleRowPredictor(booster, PREDICT_CONTRIB, 4)
    raw = booster.predict(x, raw_score=True, num_threads=1)
    contrib = booster.predict(x, pred_contrib=True, num_threads=1)
    for i in range(len(x)):
        row = np.ascontiguousarray(x[i])
        assert raw_one(row).tolist() == [raw[i]]
        np.testing.assert_array_equal(contrib_one(row), contrib[i])


def test_each_call_returns_a_fresh_array(booster: lgb.Booster) -> None:
    predict = SingleRowPredictor(booster, PREDICT_RAW_SCORE, 4)
    first = predict(np.zeros(4))
    second = predict(np.ones(4))
    assert first is not second and first[0] != second[0]
