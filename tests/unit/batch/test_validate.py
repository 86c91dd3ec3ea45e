"""Per-batch validation: the API's request rules, column by column, naming row, column, value."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from credit_scoring.batch.validate import (
    MISSING,
    NOT_A_CATEGORY,
    NOT_A_NUMBER,
    NOT_FINITE,
    NOT_WHOLE,
    InputSchemaError,
    check_columns,
    validate_batch,
)
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.features.encoding import FeatureEncoder

pytestmark = pytest.mark.unit

GOOD = {
    "annual_income": 42_000.0,
    "employment_years": 3.5,
    "credit_history_months": 60,
    "delinquencies_2y": 0,
    "loan_amount": 9_000.0,
    "duration_months": 36,
    "debt_to_income": 0.31,
    "home_ownership": "rent",
    "purpose": "car",
}


def _batch(rows: list[dict[str, object]], text: bool = False) -> pa.RecordBatch:
    if text:
        rows = [{k: None if v is None else str(v) for k, v in r.items()} for r in rows]
        fields = [pa.field(k, pa.string()) for k in GOOD]
        return pa.RecordBatch.from_pylist(rows, schema=pa.schema(fields))
    return pa.RecordBatch.from_pylist(rows)


def test_valid_rows_encode_like_the_api_encoder(schema: FeatureSchema) -> None:
    rows = [GOOD, {**GOOD, "purpose": "business", "employment_years": 0.0}]
    checked = validate_batch(_batch(rows), schema)
    assert checked.valid.all() and not len(checked.problems)
    np.testing.assert_array_equal(checked.x, FeatureEncoder(schema).encode_records(rows))


@pytest.mark.parametrize("text", [False, True], ids=["typed", "csv-text"])
def test_each_rule_names_row_column_value_and_reason(schema: FeatureSchema, text: bool) -> None:
    rows = [
        GOOD,
        {**GOOD, "annual_income": None},  # required, missing
        {**GOOD, "duration_months": 0},  # below min 1
        {**GOOD, "employment_years": 61.0},  # above max 60
        {**GOOD, "delinquencies_2y": 1.5},  # integer feature
        {**GOOD, "purpose": "yacht", "home_ownership": "castle"},  # two problems, one row
        {**GOOD, "debt_to_income": math.inf},
        GOOD,
    ]
    if text:
        rows.append({**GOOD, "loan_amount": "12k"})
    checked = validate_batch(_batch(rows, text=text), schema)
    found = list(
        zip(
            checked.problems.rows.tolist(),
            checked.problems.columns,
            checked.problems.values,
            checked.problems.reasons,
            strict=True,
        )
    )
    expected = [
        (1, "annual_income", None, MISSING),
        (2, "duration_months", "0", "below the minimum 1"),
        # The value as the input spells it (CSV text) or as Arrow prints a typed one.
        (3, "employment_years", "61.0" if text else "61", "above the maximum 60"),
        (4, "delinquencies_2y", "1.5", NOT_WHOLE),
        (5, "home_ownership", "castle", NOT_A_CATEGORY),
        (5, "purpose", "yacht", NOT_A_CATEGORY),
        (6, "debt_to_income", "inf", NOT_FINITE),
    ]
    if text:
        expected.append((8, "loan_amount", "12k", NOT_A_NUMBER))
    assert found == expected
    assert checked.valid.tolist() == [True] + [False] * 6 + [True] + ([False] if text else [])
    assert checked.x.shape == (2, len(schema.features))


def test_optional_feature_may_be_null_or_absent(schema: FeatureSchema) -> None:
    relaxed = schema.model_copy(deep=True)
    relaxed.features[1].required = False  # employment_years
    rows = [{**GOOD, "employment_years": None}, GOOD]
    checked = validate_batch(_batch(rows), relaxed)
    assert checked.valid.all()
    assert math.isnan(checked.x[0, 1]) and checked.x[1, 1] == 3.5
    without = [{k: v for k, v in GOOD.items() if k != "employment_years"}]
    check_columns(list(without[0]), relaxed, reserved=["score"])
    assert math.isnan(validate_batch(_batch(without), relaxed).x[0, 1])


def test_input_without_a_required_feature_or_with_an_output_name_is_refused(
    schema: FeatureSchema,
) -> None:
    with pytest.raises(InputSchemaError, match=r"required feature\(s\) \['purpose'\]"):
        check_columns([c for c in GOOD if c != "purpose"], schema, reserved=["score"])
    with pytest.raises(InputSchemaError, match=r"\['score'\] have the names of output columns"):
        check_columns([*GOOD, "score"], schema, reserved=["probability", "score"])
