"""Training-data validation: every problem named with its column and rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_scoring.data.io import (
    DataFileError,
    german_credit_schema,
    load_german_credit,
    read_table,
)
from credit_scoring.data.validation import DataValidationError, validate_training_frame

pytestmark = pytest.mark.unit


@pytest.fixture
def frame() -> pd.DataFrame:
    return load_german_credit()


def problems(frame: pd.DataFrame) -> list[str]:
    with pytest.raises(DataValidationError) as info:
        validate_training_frame(frame, german_credit_schema(), source="applications.csv")
    assert "applications.csv" in str(info.value)
    return info.value.problems


def test_valid_data_passes(frame: pd.DataFrame) -> None:
    data = validate_training_frame(frame, german_credit_schema())
    assert data.target.sum() == 300
    assert list(data.features.columns) == german_credit_schema().feature_names
    assert set(data.protected.columns) == {"age_band", "sex", "foreign_worker"}


def test_missing_column(frame: pd.DataFrame) -> None:
    found = problems(frame.drop(columns=["housing"]))
    assert found == ["column 'housing': missing (required feature)"]


def test_wrong_type_names_rows(frame: pd.DataFrame) -> None:
    frame["duration_in_month"] = frame["duration_in_month"].astype(object)
    frame.loc[[3, 7], "duration_in_month"] = "twelve"
    (msg,) = problems(frame)
    assert "'duration_in_month'" in msg and "expected numeric" in msg
    assert "rows 4, 8" in msg


def test_unknown_category_and_range(frame: pd.DataFrame) -> None:
    frame.loc[5, "purpose"] = "yacht"
    frame.loc[9, "credit_amount"] = -5
    found = problems(frame)
    assert any("'purpose'" in p and "yacht" in p and "rows 6" in p for p in found)
    assert any("'credit_amount'" in p and "rows 10" in p for p in found)


def test_missing_values_in_required_feature(frame: pd.DataFrame) -> None:
    frame.loc[2, "job"] = np.nan
    (msg,) = problems(frame)
    assert "'job'" in msg and "missing values" in msg and "rows 3" in msg


def test_one_class_target(frame: pd.DataFrame) -> None:
    frame["creditability"] = "good"
    (msg,) = problems(frame)
    assert "only one class" in msg


def test_unknown_target_values(frame: pd.DataFrame) -> None:
    frame.loc[0, "creditability"] = "maybe"
    (msg,) = problems(frame)
    assert "'creditability'" in msg and "maybe" in msg and "rows 1" in msg


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataFileError, match=r"empty\.csv.*is empty"):
        read_table(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b\n")
    with pytest.raises(DataFileError, match="has no rows"):
        read_table(header_only)
    with pytest.raises(DataFileError, match="unsupported extension"):
        read_table(tmp_path / "x.xlsx") if (tmp_path / "x.xlsx").write_text("x") else None
    with pytest.raises(DataFileError, match="does not exist"):
        read_table(tmp_path / "nope.csv")
