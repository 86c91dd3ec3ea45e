"""The request model built from the feature schema accepts exactly the declared applications."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from credit_scoring.api.schemas import (
    build_application_model,
    build_batch_model,
    example_application,
)
from credit_scoring.data.schema import Feature, FeatureSchema, Target

pytestmark = pytest.mark.unit


def _errors(model: Any, payload: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(payload)
    return {".".join(map(str, e["loc"])): e["type"] for e in info.value.errors()}


def test_example_is_valid(schema: FeatureSchema) -> None:
    model = build_application_model(schema)
    app = model.model_validate(example_application(schema))
    assert app.model_dump()["purpose"] == "business"


def test_range_category_unknown_and_missing_fields_are_named(schema: FeatureSchema) -> None:
    model = build_application_model(schema)
    payload = example_application(schema)
    payload.update(
        duration_in_month=0, credit_amount=100_001, purpose="yacht", favourite_colour="red"
    )
    del payload["housing"]
    errors = _errors(model, payload)
    assert errors == {
        "duration_in_month": "greater_than_equal",
        "credit_amount": "less_than_equal",
        "purpose": "literal_error",
        "favourite_colour": "extra_forbidden",
        "housing": "missing",
    }


def test_integer_features_reject_fractions_and_text(schema: FeatureSchema) -> None:
    model = build_application_model(schema)
    payload = {**example_application(schema), "duration_in_month": 12.5}
    assert _errors(model, payload) == {"duration_in_month": "int_from_float"}
    payload = {**example_application(schema), "duration_in_month": "twelve"}
    assert _errors(model, payload) == {"duration_in_month": "int_parsing"}


def test_optional_float_feature_accepts_null_but_not_nan() -> None:
    schema = FeatureSchema(
        target=Target(name="y", positive=[1], negative=[0]),
        features=[
            Feature(name="income", type="numeric", required=False, min=0),
            Feature(name="kind", type="categorical", categories=["a", "b"]),
        ],
    )
    model = build_application_model(schema)
    assert model.model_validate({"kind": "a"}).model_dump() == {
        "income": None,
        "kind": "a",
        "application_key": None,
    }
    assert model.model_validate({"kind": "b", "income": None}).model_dump()["income"] is None
    assert _errors(model, {"kind": "a", "income": float("nan")}) == {"income": "finite_number"}
    assert _errors(model, {"kind": "a", "income": -1}) == {"income": "greater_than_equal"}


def test_batch_limits(schema: FeatureSchema) -> None:
    app_model = build_application_model(schema)
    batch = build_batch_model(app_model, max_batch_size=3)
    one = example_application(schema)
    assert len(batch.model_validate({"applications": [one] * 3}).applications) == 3  # type: ignore[attr-defined]
    assert _errors(batch, {"applications": [one] * 4}) == {"applications": "too_long"}
    assert _errors(batch, {"applications": []}) == {"applications": "too_short"}
    bad = {**one, "purpose": "yacht"}
    assert _errors(batch, {"applications": [one, bad]}) == {
        "applications.1.purpose": "literal_error"
    }


def test_openapi_schema_lists_categories_and_bounds(schema: FeatureSchema) -> None:
    js = build_application_model(schema).model_json_schema()
    assert js["additionalProperties"] is False
    assert set(js["required"]) == set(schema.feature_names)
    assert js["properties"]["duration_in_month"]["minimum"] == 1
    assert "retraining" in js["properties"]["purpose"]["enum"]
    assert js["examples"][0] == example_application(schema)


def test_application_key_is_reserved() -> None:
    """The optional ``application_key`` of each application is no feature: a schema declaring
    one is refused at start-up, naming it."""
    schema = FeatureSchema(
        target=Target(name="y", positive=[1], negative=[0]),
        features=[Feature(name="application_key", type="categorical", categories=["a"])],
    )
    with pytest.raises(ValueError, match="'application_key': the name is reserved"):
        build_application_model(schema)
