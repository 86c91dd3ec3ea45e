"""Lookup tables of an additive booster reproduce LightGBM's own ``pred_contrib`` exactly."""

from __future__ import annotations

import math
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from credit_scoring.data.io import german_credit_schema, load_german_credit
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.scoring.additive import TOLERANCE, AdditiveTables

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def schema() -> FeatureSchema:
    return german_credit_schema()


@pytest.fixture(scope="module")
def encoded(schema: FeatureSchema) -> tuple[np.ndarray, np.ndarray]:
    frame = load_german_credit()
    x = FeatureEncoder(schema).encode_frame(frame)
    y = (frame[schema.target.name] == "bad").astype(int).to_numpy()
    return x, y


def _train(schema: FeatureSchema, x: np.ndarray, y: np.ndarray, **extra: Any) -> lgb.Booster:
    enc = FeatureEncoder(schema)
    data = lgb.Dataset(x, y, feature_name=enc.names, categorical_feature=enc.categorical_indices)
    params = {"objective": "binary", "verbose": -1, "seed": 3, "num_threads": 1, **extra}
    return lgb.train(params, data, num_boost_round=60)


def _one_feature_per_tree(n: int) -> dict[str, Any]:
    return {"interaction_constraints": [[i] for i in range(n)]}


def test_tables_equal_pred_contrib_including_missing_values(
    schema: FeatureSchema, encoded: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = encoded
    # Missing values in training so that splits learn a direction for them.
    x = x.copy()
    rng = np.random.default_rng(0)
    x[rng.random(x.shape) < 0.05] = math.nan
    booster = _train(schema, x, y, **_one_feature_per_tree(x.shape[1]))
    tables = AdditiveTables.from_booster(booster, schema)
    assert tables is not None
    expected = booster.predict(x, pred_contrib=True)
    np.testing.assert_allclose(tables.contrib_matrix(x), expected, rtol=0, atol=TOLERANCE)
    for i in range(0, len(x), 37):
        np.testing.assert_allclose(tables.row(x[i].tolist()), expected[i], rtol=0, atol=TOLERANCE)
    # Values between and beyond the training values land in the right interval.
    probe = x[:50].copy()
    numeric = [j for j, f in enumerate(schema.features) if f.type == "numeric"]
    probe[:, numeric] = probe[:, numeric] * 1.37 + 0.5
    probe[0, numeric] = 1e9
    probe[1, numeric] = -1e9
    np.testing.assert_allclose(
        tables.contrib_matrix(probe), booster.predict(probe, pred_contrib=True), atol=TOLERANCE
    )


def test_contributions_add_up_to_the_raw_margin(
    schema: FeatureSchema, encoded: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = encoded
    booster = _train(schema, x, y, **_one_feature_per_tree(x.shape[1]))
    tables = AdditiveTables.from_booster(booster, schema)
    assert tables is not None
    raw = booster.predict(x, raw_score=True)
    np.testing.assert_allclose(tables.contrib_matrix(x).sum(axis=1), raw, atol=1e-9)


def test_a_booster_with_interactions_gets_no_tables(
    schema: FeatureSchema, encoded: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = encoded
    booster = _train(schema, x, y, num_leaves=15)
    assert AdditiveTables.from_booster(booster, schema) is None


def test_a_schema_of_another_width_gets_no_tables(
    schema: FeatureSchema, encoded: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = encoded
    booster = _train(schema, x, y, **_one_feature_per_tree(x.shape[1]))
    narrow = schema.model_copy(update={"features": schema.features[:-1]})
    assert AdditiveTables.from_booster(booster, narrow) is None


def test_unused_features_contribute_nothing(schema: FeatureSchema) -> None:
    frame = load_german_credit()
    enc = FeatureEncoder(schema)
    x = enc.encode_frame(frame)
    # The target depends on one feature only: the others are never split on.
    y = (x[:, enc.names.index("duration_in_month")] > 24).astype(int)
    booster = _train(schema, x, y, **_one_feature_per_tree(x.shape[1]))
    tables = AdditiveTables.from_booster(booster, schema)
    assert tables is not None
    contrib = tables.contrib_matrix(x)
    j = enc.names.index("duration_in_month")
    assert np.all(np.delete(contrib[:, :-1], j, axis=1) == 0.0)
    assert np.ptp(contrib[:, j]) > 0
