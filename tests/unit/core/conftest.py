"""Fixtures shared by the core unit tests."""

from __future__ import annotations

import pytest

from credit_scoring.data.io import german_credit_schema, load_german_credit
from credit_scoring.data.validation import validate_training_frame
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.training.candidates import TrainingData


@pytest.fixture(scope="module")
def german() -> TrainingData:
    """German Credit encoded for the candidate families (two GA2M pairs)."""
    schema = german_credit_schema()
    data = validate_training_frame(load_german_credit(), schema)
    enc = FeatureEncoder(schema)
    return TrainingData(
        schema,
        enc,
        enc.encode_frame(data.features),
        data.features,
        data.target.to_numpy(),
        seed=42,
        valid_size=0.2,
        n_pairs=2,
    )
