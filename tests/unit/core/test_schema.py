"""Feature schema: declared schema loads, inference, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from credit_scoring.data.io import german_credit_schema, load_german_credit
from credit_scoring.data.schema import FeatureSchema, infer_schema

pytestmark = pytest.mark.unit


def test_bundled_schema_matches_bundled_data() -> None:
    schema = german_credit_schema()
    frame = load_german_credit()
    assert len(frame) == 1000
    assert (frame["creditability"] == "bad").mean() == pytest.approx(0.30)
    assert set(schema.required_columns) <= set(frame.columns)
    # protected attributes are measured, not used as features
    assert {"age_in_years", "personal_status_and_sex", "foreign_worker"}.isdisjoint(
        schema.feature_names
    )
    for f in schema.categorical:
        assert set(frame[f.name].unique()) == set(f.categories or [])


def test_infer_schema_types_ranges_and_positive_class() -> None:
    frame = pd.DataFrame(
        {
            "income": [1000.0, 2000.5, None, 4000.0],
            "children": [0, 1, 2, 3],
            "region": ["north", "south", "north", "east"],
            "status": ["paid", "default", "paid", "paid"],
        }
    )
    schema = infer_schema(frame, "status")
    assert schema.target.positive == ["default"]
    assert schema.target.negative == ["paid"]
    income = schema.feature("income")
    assert (income.type, income.min, income.max, income.required) == (
        "numeric",
        1000.0,
        4000.0,
        False,
    )
    assert schema.feature("children").integer
    assert schema.feature("region").categories == ["east", "north", "south"]


def test_infer_schema_rejects_non_binary_target() -> None:
    frame = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    with pytest.raises(ValueError, match="'y' must have exactly two values"):
        infer_schema(frame, "y")


def test_infer_schema_names_missing_target() -> None:
    with pytest.raises(ValueError, match="target column 'nope' not found"):
        infer_schema(pd.DataFrame({"x": [1]}), "nope")


def test_schema_round_trip(tmp_path: Path) -> None:
    schema = german_credit_schema()
    for suffix in (".yaml", ".json"):
        path = schema.dump(tmp_path / f"s{suffix}")
        assert FeatureSchema.load(path) == schema


def test_invalid_schema_file_names_file_and_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "target: {name: y, positive: [1], negative: [0]}\n"
        "features:\n  - {name: a, type: categorical}\n"
    )
    with pytest.raises(ValueError, match=r"bad.yaml.*categorical feature needs categories"):
        FeatureSchema.load(bad)
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        FeatureSchema.load(tmp_path / "missing.yaml")


def test_protected_groups_bands_and_mapping() -> None:
    schema = german_credit_schema()
    frame = pd.DataFrame(
        {
            "age_in_years": [19, 25, 40, 70],
            "personal_status_and_sex": [
                "male : single",
                "female : divorced/separated/married",
                "male : single",
                "male : married/widowed",
            ],
            "foreign_worker": ["yes", "no", "yes", "yes"],
        }
    )
    age, sex, _ = schema.protected
    assert age.groups(frame).tolist() == ["<25", "25-35", "35-50", ">=50"]
    assert sex.groups(frame).tolist() == ["male", "female", "male", "male"]
