"""Real small CreditModels for the portfolio-scoring tests (unit and Spark integration): LightGBM
boosters trained for a few dozen rounds on synthetic data, with calibration and scaling."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from credit_scoring.data.schema import FeatureSchema
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.scoring.calibration import Calibration
from credit_scoring.scoring.model import CreditModel
from credit_scoring.scoring.scaling import ScoreScaling


def train_model(schema: FeatureSchema, frame: pd.DataFrame, *, additive: bool) -> CreditModel:
    enc = FeatureEncoder(schema)
    n = len(schema.features)
    params: dict[str, Any] = {
        "objective": "binary",
        "verbose": -1,
        "num_leaves": 7,
        "seed": 1,
        "deterministic": True,
        "num_threads": 1,
    }
    if additive:
        params["interaction_constraints"] = [[i] for i in range(n)]
    booster = lgb.train(
        params,
        lgb.Dataset(
            enc.encode_frame(frame),
            frame[schema.target.name].to_numpy(),
            feature_name=enc.names,
            categorical_feature=enc.categorical_indices,
        ),
        num_boost_round=40,
    )
    example = [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
        for r in frame[schema.feature_names].head(2).to_dict(orient="records")
    ]
    return CreditModel(booster, schema, ScoreScaling(), Calibration(0.9, -0.1), example)


def portfolio_frame(rows: int, seed: int) -> pd.DataFrame:
    """Synthetic applicants with an id column (leading zeros) and a segment label."""
    from credit_scoring.data.synthetic import generate

    frame = generate(rows, seed=seed)
    frame.insert(0, "application_id", [f"{i:08d}" for i in range(len(frame))])
    frame["segment"] = np.where(frame.index % 3 == 0, "retail", "sme")
    return frame
