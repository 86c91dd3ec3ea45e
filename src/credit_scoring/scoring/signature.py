"""The MLflow signature of a served model, derived from the feature schema and the training data.

MLflow enforces the signature's column types before the pyfunc sees the data, and it refuses
conversions that could lose precision: ``int64 -> double`` and ``double -> long`` both fail
("Can not safely convert int64 to float64"). A signature declaring every numeric feature as
``double`` therefore rejects the bundled CSV and any holdout read back from Parquet. The types
here follow the schema *and* what the training data looked like:

* categorical feature -> ``string``;
* integer feature (``integer: true``) whose training column holds integers (no missing values,
  integer dtype) -> ``long``: the CSV, the holdout and a Spark ``LongType``/``IntegerType``
  column are accepted as they are;
* any other numeric feature (decimals, or integers with missing values, which pandas stores as
  float64 — MLflow's own advice for integers that may be missing) -> ``double``;
* optional features (``required: false``) are optional columns of the signature.
"""

from __future__ import annotations

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, DataType, Schema

from credit_scoring.data.schema import Feature, FeatureSchema

OUTPUT = Schema(
    [
        ColSpec(DataType.double, "probability"),
        ColSpec(DataType.double, "score"),
        ColSpec(DataType.string, "decision"),
    ]
)


def column_type(feature: Feature, data: pd.Series | None) -> DataType:
    """The MLflow type of one feature (see the module docstring)."""
    if feature.type == "categorical":
        return DataType.string
    if (
        feature.integer
        and data is not None
        and pd.api.types.is_integer_dtype(data)
        and not pd.api.types.is_bool_dtype(data)
    ):
        return DataType.long
    return DataType.double


def model_signature(schema: FeatureSchema, training: pd.DataFrame) -> ModelSignature:
    """Input columns typed from ``schema`` and the raw ``training`` frame; fixed output columns."""
    inputs = [
        ColSpec(
            column_type(f, training[f.name] if f.name in training.columns else None),
            f.name,
            required=f.required,
        )
        for f in schema.features
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=OUTPUT)  # type: ignore[arg-type]
