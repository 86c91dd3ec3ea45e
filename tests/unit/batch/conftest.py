"""Fixtures for the portfolio-scoring unit tests: real small CreditModels on synthetic data
(``helpers.batch_models``); the integration tests score with versions registered in a real
MLflow server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from helpers.batch_models import portfolio_frame, train_model

from credit_scoring.batch.transform import ScoringJob
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.data.synthetic import generate, synthetic_schema
from credit_scoring.scoring.model import CreditModel

SCORED_AT = datetime(2026, 1, 31, 23, 0, tzinfo=UTC)


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
    return portfolio_frame(2_000, seed=8)


@pytest.fixture
def make_job() -> Any:
    """``make_job(model, reasons=3)``: a ScoringJob as the CLI builds it, at a fixed instant."""

    def make(model: CreditModel, reasons: int = 3) -> ScoringJob:
        return ScoringJob(model, "credit-scoring", "7", reasons, SCORED_AT)

    return make
