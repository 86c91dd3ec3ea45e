"""Interpretable WoE logistic scorecard (optbinning ``BinningProcess`` + ``Scorecard``).

Trained on the same split as the LightGBM model; it is the challenger-in-a-glass-box: its
points table is logged as an artifact and its metrics beside LightGBM's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from optbinning import BinningProcess, Scorecard
from sklearn.linear_model import LogisticRegression

from credit_scoring.data.schema import FeatureSchema
from credit_scoring.scoring.scaling import ScoreScaling


def fit_scorecard(
    schema: FeatureSchema, x: pd.DataFrame, y: NDArray[np.int64], scaling: ScoreScaling
) -> Scorecard:
    """Fit optimal WoE binning and a logistic regression, scaled like the served model."""
    names = schema.feature_names
    # The schema's risk direction holds for the scorecard too: event (default) rate ascending
    # with a feature whose risk increases, descending otherwise.
    trends = {"increasing": "ascending", "decreasing": "descending"}
    binning = BinningProcess(
        variable_names=names,
        categorical_variables=[f.name for f in schema.categorical],
        min_prebin_size=0.05,
        binning_fit_params={
            f.name: {"monotonic_trend": trends[f.monotone]} for f in schema.features if f.monotone
        },
    )
    card = Scorecard(
        binning_process=binning,
        estimator=LogisticRegression(max_iter=1000),
        scaling_method="pdo_odds",
        scaling_method_params={
            "pdo": scaling.pdo,
            "odds": scaling.base_odds,
            "scorecard_points": scaling.base_points,
        },
    )
    with warnings.catch_warnings():
        # optbinning's solver chatter on tiny bins is not actionable for users
        warnings.simplefilter("ignore")
        card.fit(x[names], y)
    return card


def scorecard_pd(card: Scorecard, x: pd.DataFrame) -> NDArray[np.float64]:
    """Probability of default from the scorecard."""
    return np.asarray(card.predict_proba(x)[:, 1], dtype=np.float64)


def scorecard_table(card: Scorecard) -> pd.DataFrame:
    """The points table: variable, bin, WoE, points."""
    return card.table(style="detailed")
