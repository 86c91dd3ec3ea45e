"""The candidate model families and how each is fitted on a given split.

=============  ==============================================================  ================
family         model                                                           reason codes
=============  ==============================================================  ================
scorecard      WoE logistic scorecard (optbinning), points per bin             scorecard points
logistic       logistic regression on the features (``training.logistic``)     per-feature table
additive       LightGBM, every tree on one feature (a sum of step functions)   per-feature table
ga2m           LightGBM, one-feature trees plus trees on a few chosen pairs    pair tables
lightgbm       LightGBM with free interactions                                 TreeSHAP
=============  ==============================================================  ================

Families are listed from the most to the least interpretable (:data:`SERVED`), and **every
candidate can be served**: the policy (``training.selection``) may pick any of them, so the
selected model is compared with the best of all candidates, not of a subset. The scorecard comes
first (binned points, the format credit risk teams and regulators read); the logistic regression
second (one coefficient per number, one per category: points per unit, but a straight line
cannot flatten out at the tails); then the LightGBM families by growing freedom. The scorecard
and the logistic regression are compiled into additive LightGBM boosters at serving time
(``training.scorecard_booster``, ``training.logistic``). Every LightGBM family uses the same
fitting procedure (early stopping and Platt calibration on an inner validation part).

GA2M pairs are chosen by FAST (Lou, Caruana, Gehrke & Hooker, 2013, "Accurate intelligible models
with pairwise interactions", the method of InterpretML's EBM): on the residuals of the additive
model, every pair of features is scored by the best reduction of the squared residual error that
one cut on each feature (four quadrants, each predicting its mean residual) achieves, on a grid
of quantile bins; the ``n_pairs`` best pairs get interaction trees. Pairs are chosen on the
training part of each fold, so the cross-validated estimate includes the choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.model_selection import train_test_split

from credit_scoring.data.schema import FeatureSchema
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.scoring.calibration import Calibration
from credit_scoring.scoring.scaling import ScoreScaling
from credit_scoring.training.lgbm import fit_calibration, fit_lightgbm
from credit_scoring.training.logistic import LogisticModel, fit_logistic
from credit_scoring.training.scorecard import fit_scorecard, scorecard_pd

#: Candidate families, all servable, most interpretable first.
SERVED = ("scorecard", "logistic", "additive", "ga2m", "lightgbm")
FAMILIES = SERVED
LIGHTGBM_FAMILIES = ("additive", "ga2m", "lightgbm")
FAST_BINS = 16

Indices = NDArray[np.intp]


@dataclass
class TrainingData:
    """Everything a family needs to fit: encoded matrix, validated frame, target, schema."""

    schema: FeatureSchema
    encoder: FeatureEncoder
    x: NDArray[np.float64]
    frame: pd.DataFrame
    y: NDArray[np.int64]
    seed: int
    valid_size: float
    scaling: ScoreScaling = field(default_factory=ScoreScaling)
    n_pairs: int = 3
    lgbm_overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fitted:
    """A fitted candidate: PD for any rows, plus what serving needs."""

    family: str
    predict: Callable[[Indices], NDArray[np.float64]]
    booster: lgb.Booster | None = None
    calibration: Calibration | None = None
    card: Any = None
    pairs: list[tuple[int, int]] = field(default_factory=list)
    logistic: LogisticModel | None = None


def interaction_constraints(n_features: int, pairs: list[tuple[int, int]]) -> list[list[int]]:
    """LightGBM constraints: one-feature trees for all, two-feature trees for ``pairs``."""
    return [[i] for i in range(n_features)] + [[i, j] for i, j in pairs]


def fast_pairs(
    x: NDArray[np.float64], residual: NDArray[np.float64], n_pairs: int, bins: int = FAST_BINS
) -> list[tuple[int, int]]:
    """The ``n_pairs`` best pairs by FAST (see the module docstring), best first."""
    n, k = x.shape
    if n_pairs <= 0 or k < 2:
        return []
    codes = np.empty((n, k), dtype=np.intp)
    for j in range(k):
        col = x[:, j]
        finite = col[~np.isnan(col)]
        edges = (
            np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
            if len(finite)
            else np.array([])
        )
        code = np.searchsorted(edges, col, side="right")
        code[np.isnan(col)] = len(edges) + 1  # missing: its own bin, last
        codes[:, j] = code
    n_bins = int(codes.max()) + 1
    gains = []
    for i, j in combinations(range(k), 2):
        flat = codes[:, i] * n_bins + codes[:, j]
        sums = np.bincount(flat, weights=residual, minlength=n_bins * n_bins).reshape(
            n_bins, n_bins
        )
        counts = np.bincount(flat, minlength=n_bins * n_bins).reshape(n_bins, n_bins)
        # cumulative sums: quadrant (<=a, <=b) etc. for every cut (a, b)
        s = sums.cumsum(0).cumsum(1)
        c = counts.cumsum(0).cumsum(1)
        total_s, total_c = s[-1, -1], c[-1, -1]
        s_col, c_col = s[-1:, :], c[-1:, :]  # (<=any a, <=b)
        s_row, c_row = s[:, -1:], c[:, -1:]
        quads_s = [s, s_row - s, s_col - s, total_s - s_row - s_col + s]
        quads_c = [c, c_row - c, c_col - c, total_c - c_row - c_col + c]
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = sum(
                np.where(qc > 0, qs**2 / np.maximum(qc, 1), 0.0)
                for qs, qc in zip(quads_s, quads_c, strict=True)
            )
        gains.append((float(np.max(gain)), (i, j)))
    gains.sort(key=lambda g: -g[0])
    return [pair for _, pair in gains[:n_pairs]]


def _inner_split(data: TrainingData, train: Indices) -> tuple[Indices, Indices]:
    fit, valid = train_test_split(
        train, test_size=data.valid_size, stratify=data.y[train], random_state=data.seed
    )
    return np.asarray(fit), np.asarray(valid)


def _fit_booster(
    data: TrainingData, fit: Indices, valid: Indices, family: str, pairs: list[tuple[int, int]]
) -> tuple[lgb.Booster, Calibration]:
    overrides = dict(data.lgbm_overrides)
    if family == "ga2m":
        overrides["interaction_constraints"] = interaction_constraints(
            len(data.schema.features), pairs
        )
    x, y = data.x, data.y
    booster = fit_lightgbm(
        data.encoder,
        x[fit],
        y[fit],
        x[valid],
        y[valid],
        seed=data.seed,
        params=overrides,
        additive=family == "additive",
    )
    margin = np.asarray(booster.predict(x[valid], raw_score=True))
    return booster, fit_calibration(margin, y[valid])


def fit_family(
    family: str,
    data: TrainingData,
    train: Indices,
    split: tuple[Indices, Indices] | None = None,
) -> Fitted:
    """Fit ``family`` on rows ``train`` (LightGBM: on ``split`` = (fit, valid) if given)."""
    if family in LIGHTGBM_FAMILIES:
        fit, valid = split or _inner_split(data, train)
        pairs: list[tuple[int, int]] = []
        if family == "ga2m":
            additive, cal = _fit_booster(data, fit, valid, "additive", [])
            p_fit = cal.apply(np.asarray(additive.predict(data.x[fit], raw_score=True)))
            pairs = fast_pairs(data.x[fit], data.y[fit] - p_fit, data.n_pairs)
        booster, calibration = _fit_booster(data, fit, valid, family, pairs)

        def predict(rows: Indices) -> NDArray[np.float64]:
            return calibration.apply(np.asarray(booster.predict(data.x[rows], raw_score=True)))

        return Fitted(family, predict, booster, calibration, pairs=pairs)
    if family == "scorecard":
        rows = split[0] if split else train
        card = fit_scorecard(data.schema, data.frame.iloc[rows], data.y[rows], data.scaling)
        return Fitted(family, lambda r: scorecard_pd(card, data.frame.iloc[r]), card=card)
    if family == "logistic":
        # No early stopping to feed: fitted on every training row, in CV as when served.
        model = fit_logistic(data.schema, data.x[train], data.y[train])
        return Fitted(family, lambda r: model.predict(data.x[r]), logistic=model)
    raise ValueError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
