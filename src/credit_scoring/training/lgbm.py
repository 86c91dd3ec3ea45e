"""LightGBM default-risk model: native categoricals, monotone constraints, early stopping,
and the fit of the Platt calibration of the raw margin.

Platt scaling (a logistic regression on the booster's raw log-odds, fitted on the validation
part) is monotone and linear in log-odds, so SHAP contributions of the booster stay exact
contributions to the calibrated log-odds (times the slope): reason codes and score points stay
consistent with the calibrated probability. The fitted :class:`Calibration` is part of the
served artifact and lives in ``scoring.calibration``.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression

from credit_scoring.data.schema import FeatureSchema
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.scoring.calibration import Calibration

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "max_depth": 5,
    "min_data_in_leaf": 20,
    "min_data_per_group": 20,
    "cat_smooth": 10.0,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbosity": -1,
}
MAX_ROUNDS = 2000
EARLY_STOPPING_ROUNDS = 100
SMALL_DATA_ROWS = 50_000


def monotone_constraints(schema: FeatureSchema) -> list[int]:
    """LightGBM monotone constraint per feature from the schema's risk direction."""
    return [{"increasing": 1, "decreasing": -1}.get(f.monotone or "", 0) for f in schema.features]


def lgbm_params(
    schema: FeatureSchema,
    seed: int,
    n_rows: int,
    overrides: dict[str, Any] | None = None,
    *,
    additive: bool = True,
) -> dict[str, Any]:
    """Training parameters for ``schema`` (monotone and interaction constraints, seed, threads).

    ``additive``: every tree splits on one feature only (LightGBM interaction constraints), so
    the model is a sum of per-feature step functions, like a scorecard with boosted bins: a
    feature's points depend on its own value alone and reason codes are exact. Serving compiles
    such a model into lookup tables (``scoring.additive``).
    """
    # OpenMP threads only pay off on large data; on small data they spin and slow training down.
    threads = 0 if n_rows >= SMALL_DATA_ROWS else 1
    params = {**DEFAULT_PARAMS, "seed": seed, "deterministic": True, "num_threads": threads}
    constraints = monotone_constraints(schema)
    if any(constraints):
        params["monotone_constraints"] = constraints
        params["monotone_constraints_method"] = "advanced"
    if additive:
        params["interaction_constraints"] = [[i] for i in range(len(schema.features))]
    params.update(overrides or {})
    return params


def fit_lightgbm(
    encoder: FeatureEncoder,
    x_train: NDArray[np.float64],
    y_train: NDArray[np.int64],
    x_valid: NDArray[np.float64],
    y_valid: NDArray[np.int64],
    *,
    seed: int,
    params: dict[str, Any] | None = None,
    additive: bool = True,
) -> lgb.Booster:
    """Train with early stopping on the validation part."""
    full = lgbm_params(encoder.schema, seed, len(y_train), params, additive=additive)
    names, cats = encoder.names, encoder.categorical_indices
    train_set = lgb.Dataset(
        x_train, label=y_train, feature_name=names, categorical_feature=cats, free_raw_data=False
    )
    valid_set = lgb.Dataset(
        x_valid, label=y_valid, feature_name=names, categorical_feature=cats, reference=train_set
    )
    return lgb.train(
        full,
        train_set,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[valid_set],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )


def fit_calibration(margin: NDArray[np.float64], y: NDArray[np.int64]) -> Calibration:
    """Fit Platt scaling on raw margins (nearly unregularised logistic regression)."""
    lr = LogisticRegression(C=1e6, max_iter=1000)
    lr.fit(margin.reshape(-1, 1), y)
    return Calibration(slope=float(lr.coef_[0, 0]), intercept=float(lr.intercept_[0]))
