"""Repeated stratified cross-validation of the model-fitting procedure."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import RepeatedStratifiedKFold

from credit_scoring.evaluation.metrics import METRICS, classification_metrics

FitPredict = Callable[[NDArray[np.int64], NDArray[np.int64]], NDArray[np.float64]]


def repeated_cv(
    y: NDArray[np.int64],
    fit_predict: FitPredict,
    *,
    folds: int,
    repeats: int,
    seed: int,
) -> dict[str, float]:
    """Mean and sd of every metric over ``repeats`` x ``folds`` stratified folds.

    ``fit_predict(train_idx, test_idx)`` fits on the train indices and returns PDs for the test
    indices. Keys are ``cv_<metric>_mean`` and ``cv_<metric>_std``.
    """
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    scores: dict[str, list[float]] = {m: [] for m in METRICS}
    for train_idx, test_idx in splitter.split(np.zeros(len(y)), y):
        result = classification_metrics(y[test_idx], fit_predict(train_idx, test_idx))
        for m in METRICS:
            scores[m].append(result[m])
    out: dict[str, float] = {}
    for m, vals in scores.items():
        out[f"cv_{m}_mean"] = float(np.mean(vals))
        out[f"cv_{m}_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    return out
