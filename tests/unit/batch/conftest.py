"""Fixtures for the portfolio-scoring unit tests: real small CreditModels on synthetic data.

The models are real LightGBM boosters (a few dozen rounds) with calibration and scaling, built
in-process; the integration tests score with versions registered in a real MLflow server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from credit_scoring.batch.transform import ScoringJob
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.data.synthetic import generate, synthetic_schema
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.scoring.model import CreditModel
from credit_scoring.scoring.scaling import ScoreScaling
from credit_scoring.training.lgbm import Calibration

SCORED_AT = datetime(2026, 1, 31, 23, 0, tzinfo=UTC)


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


@pytest.fixture(scope="session")
def schema() -> FeatureSchema:
    return synthetic_schema()


@pytest.fixture(scope="session")
def model(schema: FeatureSchema) -> CreditModel:
    m = train_model(schema, generate(5_000, seed=3), additive=True)
    assert m.tables is not None
    return m


@pytest.fixture(scope="session")
def interaction_model(schema: FeatureSchema) -> CreditModel:
    m = train_model(schema, generate(5_000, seed=3), additive=False)
    assert m.tables is None
    return m


@pytest.fixture
def portfolio() -> pd.DataFrame:
    """2,000 applicants with an id column (leading zeros) and a segment label."""
    frame = generate(2_000, seed=8)
    frame.insert(0, "application_id", [f"{i:08d}" for i in range(len(frame))])
    frame["segment"] = np.where(frame.index % 3 == 0, "retail", "sme")
    return frame


@pytest.fixture
def make_job() -> Any:
    """``make_job(model, reasons=3)``: a ScoringJob as the CLI builds it, at a fixed instant."""

    def make(model: CreditModel, reasons: int = 3) -> ScoringJob:
        return ScoringJob(model, "credit-scoring", "7", reasons, SCORED_AT)

    return make
