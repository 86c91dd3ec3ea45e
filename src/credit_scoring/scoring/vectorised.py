"""Vectorised scoring of an encoded matrix: PD, points, decision and reason codes as arrays.

The same arithmetic as :meth:`CreditModel.score` (the API's path), on whole columns instead of
Python objects, for portfolio scoring (``credit_scoring.batch``): the contributions come from the
additive lookup tables when the model has them (LightGBM's ``pred_contrib`` otherwise), the
margin is their sum, the calibrated PD, points and decision follow, and the reason codes are the
``max_reasons`` largest positive contributions, largest first, ties in schema order, exactly as
the API ranks them. A row scores the same online and offline (to floating-point summation order,
~1e-15); ``tests/integration/batch`` compares with a running API.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from credit_scoring.scoring.additive import AdditiveTables
from credit_scoring.scoring.model import CreditModel
from credit_scoring.scoring.scaling import DECISIONS

#: Decision band codes: index into :data:`DECISIONS` ("approve", "review", "decline").
APPROVE, REVIEW, DECLINE = (DECISIONS.index(d) for d in ("approve", "review", "decline"))


@dataclass(frozen=True)
class MatrixScores:
    """Scores of ``n`` rows; reasons are ``(n, k)`` with feature index -1 where there is none."""

    probability: NDArray[np.float64]
    score: NDArray[np.float64]
    decision: NDArray[np.int8]  # index into DECISIONS
    reason_feature: NDArray[np.int16]
    reason_points: NDArray[np.float64]  # signed score-point impact (< 0: lowers the score)


def score_matrix(model: CreditModel, x: NDArray[np.float64], max_reasons: int = 0) -> MatrixScores:
    """Score an encoded matrix (``model.encoder`` layout, NaN = missing)."""
    n = x.shape[0]
    n_features = len(model.encoder.names)
    contrib: NDArray[np.float64] | None = None
    if max_reasons:
        if model.tables is not None:
            contrib = model.tables.contrib_matrix(x)
        else:
            contrib = np.asarray(model.booster.predict(x, pred_contrib=True), dtype=np.float64)
        margin = contrib.sum(axis=1)
    elif isinstance(model.tables, AdditiveTables):
        # The margin alone: one lookup per feature accumulated in place, no contribution matrix.
        margin = np.full(n, model.tables.bias, dtype=np.float64)
        for j, table in enumerate(model.tables.tables):
            margin += table.column(x[:, j])
    elif model.tables is not None:
        # GA2M pair tables: per-feature and per-pair lookups, summed.
        margin = model.tables.contrib_matrix(x).sum(axis=1)
    else:
        margin = model.margin(x)
    probability = model.calibration.apply(margin)
    scaling = model.scaling
    decision = np.full(n, REVIEW, dtype=np.int8)
    decision[probability < scaling.approve_below_pd] = APPROVE
    decision[probability >= scaling.decline_above_pd] = DECLINE
    k = min(max_reasons, n_features)
    if contrib is None or k == 0:
        reason_feature = np.full((n, 0), -1, dtype=np.int16)
        reason_points = np.empty((n, 0), dtype=np.float64)
    else:
        log_odds = contrib[:, :-1] * model.calibration.slope
        # Stable sort of the negated values: largest first, equal values in schema order (the
        # API's ``sorted(..., reverse=True)`` keeps the same order for ties).
        order = np.argsort(-log_odds, axis=1, kind="stable")[:, :k]
        top = np.take_along_axis(log_odds, order, axis=1)
        positive = top > 0
        reason_feature = np.where(positive, order, -1).astype(np.int16)
        reason_points = np.where(positive, -scaling.factor * top, np.nan)
    return MatrixScores(
        probability=probability,
        score=scaling.points(probability),
        decision=decision,
        reason_feature=reason_feature,
        reason_points=reason_points,
    )
