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


def test_duplicate_columns_are_refused_with_their_names(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    csv = tmp_path / "dupes.csv"
    frame.iloc[:, [0, 1, 1, 2, 2]].to_csv(csv, index=False)
    first, second = frame.columns[1], frame.columns[2]
    with pytest.raises(
        DataFileError, match=rf"duplicate column name\(s\) \['{first}', '{second}'\]"
    ):
        read_table(csv)
    duped = pd.concat([frame, frame[["age_in_years"]]], axis=1)
    (msg,) = problems(duped)
    assert "duplicate column name(s) ['age_in_years']" in msg


def test_nan_target_is_reported_as_missing_with_rows(tmp_path: Path) -> None:
    """A numeric 0/1 target with gaps: the gaps are named, not every row as 'unknown'."""
    from credit_scoring.data.schema import infer_schema

    frame = pd.DataFrame({"x": np.arange(100.0), "y": np.tile([0.0, 1.0], 50)})
    frame.loc[[4, 40], "y"] = np.nan
    schema = infer_schema(frame, "y")
    with pytest.raises(DataValidationError) as info:
        validate_training_frame(frame, schema)
    assert info.value.problems == ["target column 'y': missing values (rows 5, 41)"]
    frame = frame.dropna()
    assert validate_training_frame(frame, schema).target.sum() == 50


def test_directory_is_not_reported_as_missing(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="is a directory, not a file"):
        read_table(tmp_path)


def test_wide_frame_validates_without_warnings() -> None:
    """200 numeric + 200 categorical columns: no pandas PerformanceWarning (warnings are
    errors in this suite), every bad column named."""
    rng = np.random.default_rng(0)
    from credit_scoring.data.schema import Feature, FeatureSchema, Target

    n = 2000
    data: dict[str, object] = {f"n{i}": rng.normal(size=n) for i in range(200)}
    data.update({f"c{i}": rng.choice(["a", "b"], size=n) for i in range(200)})
    data["y"] = np.tile([0, 1], n // 2)
    frame = pd.DataFrame(data)
    frame.loc[7, "c3"] = "zzz"
    frame.loc[9, "n5"] = 50.0
    features = [Feature(name=f"n{i}", type="numeric", max=10) for i in range(200)]
    features += [
        Feature(name=f"c{i}", type="categorical", categories=["a", "b"]) for i in range(200)
    ]
    schema = FeatureSchema(target=Target(name="y", positive=[1], negative=[0]), features=features)
    with pytest.raises(DataValidationError) as info:
        validate_training_frame(frame, schema)
    found = info.value.problems
    assert found == [
        "column 'n5': fails maximum 10, e.g. ['50.0'] (rows 10)",
        "column 'c3': fails allowed categories, e.g. ['zzz'] (rows 8)",
    ]
