"""Request and response models of the scoring API.

The application model is built at start-up from the declared :class:`FeatureSchema`: numeric
features become ``int``/``float`` fields with the declared bounds, categorical features a
``Literal`` of the allowed categories, optional features default to ``null`` and unknown fields
are rejected. FastAPI turns violations into 422 responses naming the field. Besides the features,
an application may carry ``application_key`` (optional, 1-128 characters): the lender's key of the
application or applicant, recorded with the decision (not an input of the model), so that
re-scorings of the same applicant and outcomes sent by that key can be joined.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from credit_scoring.data.schema import Feature, FeatureSchema
from credit_scoring.predictions.record import APPLICATION_KEY, APPLICATION_KEY_MAX_LENGTH

APPLICATION_MODEL_NAME = "Application"
BATCH_MODEL_NAME = "BatchRequest"


def _field_for(feature: Feature) -> tuple[Any, Any]:
    """(annotation, FieldInfo) of one feature."""
    description = feature.reason or feature.description or feature.name.replace("_", " ")
    annotation: Any
    constraints: dict[str, Any] = {}
    if feature.type == "categorical":
        assert feature.categories  # guaranteed by Feature's validator
        annotation = Literal[tuple(feature.categories)]
    else:
        annotation = int if feature.integer else float
        if feature.min is not None:
            constraints["ge"] = int(feature.min) if feature.integer else feature.min
        if feature.max is not None:
            constraints["le"] = int(feature.max) if feature.integer else feature.max
        if not feature.integer:
            constraints["allow_inf_nan"] = False
    if feature.required:
        return annotation, Field(..., description=description, **constraints)
    return annotation | None, Field(default=None, description=description, **constraints)


@classmethod  # type: ignore[misc]
def _no_bool(cls: type[BaseModel], value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def example_application(schema: FeatureSchema) -> dict[str, Any]:
    """A valid application built from the schema (first category, mid-range number)."""
    example: dict[str, Any] = {}
    for feature in schema.features:
        if feature.type == "categorical":
            assert feature.categories
            example[feature.name] = feature.categories[0]
        else:
            lo = feature.min if feature.min is not None else 0.0
            hi = feature.max if feature.max is not None else lo + 10.0
            mid = lo + (hi - lo) / 10
            example[feature.name] = round(mid) if feature.integer else round(mid, 2)
    return example


def build_application_model(
    schema: FeatureSchema, example: dict[str, Any] | None = None
) -> type[BaseModel]:
    """A pydantic model validating one loan application against ``schema``."""
    if any(f.name == APPLICATION_KEY for f in schema.features):
        raise ValueError(
            f"feature {APPLICATION_KEY!r}: the name is reserved for the lender's application key "
            "(recorded with the decision, never scored); rename the feature"
        )
    fields: dict[str, Any] = {f.name: _field_for(f) for f in schema.features}
    fields[APPLICATION_KEY] = (
        str | None,
        Field(
            default=None,
            min_length=1,
            max_length=APPLICATION_KEY_MAX_LENGTH,
            description="Optional: your key of the application or applicant (not scored; "
            "recorded with the decision for grade migration and outcomes by key).",
        ),
    )
    numeric = [f.name for f in schema.features if f.type == "numeric"]
    # Booleans are refused for numeric fields, not scored as 0/1 (pydantic's lax mode would
    # accept them); runs before the field's own validation, so bounds and NaN checks stay.
    validators = (
        {"_no_booleans": field_validator(*numeric, mode="before")(_no_bool)} if numeric else {}
    )
    config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [example or example_application(schema)]},
    )
    model: type[BaseModel] = create_model(
        APPLICATION_MODEL_NAME,
        __config__=config,
        __doc__="One loan application; fields follow the model's declared feature schema.",
        __validators__=validators,
        **fields,
    )
    return model


def build_batch_model(application: type[BaseModel], max_batch_size: int) -> type[BaseModel]:
    """A pydantic model for ``{"applications": [...]}`` with at most ``max_batch_size`` items."""
    model: type[BaseModel] = create_model(
        BATCH_MODEL_NAME,
        __config__=ConfigDict(extra="forbid"),
        __doc__="Many loan applications scored in one call.",
        applications=(
            list[application],  # type: ignore[valid-type]
            Field(..., min_length=1, max_length=max_batch_size),
        ),
    )
    return model


# --- responses ------------------------------------------------------------------------------
class ReasonOut(BaseModel):
    """One reason code: a feature that moved the applicant's risk."""

    feature: str
    value: Any = Field(description="The applicant's value of the feature.")
    contribution: float = Field(
        description="Contribution to the log-odds of default (positive raises risk)."
    )
    points: float = Field(description="Signed impact on the score in points.")
    reason: str = Field(description="Human-readable reason text.")


class ScoreOut(BaseModel):
    """The decision on one application."""

    probability: float = Field(description="Probability of default (PD), 0..1.")
    score: float = Field(description="Score points (higher is better).")
    decision: Literal["approve", "review", "decline"]
    grade: str = Field(
        description="Rating grade of the PD on the version's master scale (A = lowest risk)."
    )
    reasons: list[ReasonOut] = Field(description="Top adverse reason codes, strongest first.")


class ScoreResponse(ScoreOut):
    """The decision on one application, with the model version that answered."""

    decision_id: str = Field(
        description="Id of the decision record in the ledger (here: the request id)."
    )
    request_id: str
    model_name: str
    model_version: str
    application_key: str | None = Field(
        default=None, description="The application key sent with the application, if any."
    )


class BatchItemOut(ScoreOut):
    """The decision on one application of a batch."""

    index: int = Field(description="Position of the application in the request.")
    decision_id: str = Field(
        description="Id of this application's decision record in the ledger "
        "(`<request_id>-<index>`)."
    )
    application_key: str | None = Field(
        default=None, description="The application key sent with the application, if any."
    )


class BatchResponse(BaseModel):
    """The decisions on a batch, all answered by the same model version."""

    request_id: str
    model_name: str
    model_version: str
    count: int
    results: list[BatchItemOut]


class ModelInfo(BaseModel):
    """The model version currently served."""

    name: str
    version: str
    alias: str
    run_id: str | None
    metrics: dict[str, float]
    loaded_at: str = Field(description="UTC time the version was loaded (ISO 8601).")
    source: Literal["registry", "cache"] = Field(
        description="Where the version was loaded from (the local cache when MLflow was down)."
    )


class ReloadResponse(BaseModel):
    """Outcome of an admin reload."""

    outcome: Literal["swapped", "unchanged", "failed"]
    previous_version: str | None
    version: str | None
    detail: str


class StatusOut(BaseModel):
    """Health/readiness status."""

    status: str
    model_version: str | None = None
    detail: str | None = None
    refused_version: str | None = Field(
        default=None,
        description="A version the alias points at that this API refused to serve (the "
        "previous version keeps serving).",
    )
