"""Validation of a training frame against the declared feature schema (pandera).

All problems are collected (pandera's lazy validation) and reported together, each naming the
column, the failed check and the first offending rows (1-based data rows of the file).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from credit_scoring.data.schema import Feature, FeatureSchema

_MAX_ROWS_SHOWN = 5


class DataValidationError(ValueError):
    """Training data does not satisfy the schema; ``problems`` lists every finding."""

    def __init__(self, problems: list[str], source: str = "data") -> None:
        self.problems = problems
        self.source = source
        super().__init__(
            f"{source} failed validation ({len(problems)} problem(s)):\n- " + "\n- ".join(problems)
        )


@dataclass(frozen=True)
class ValidatedData:
    """A validated training set: features, binary target (1 = default), protected groups."""

    features: pd.DataFrame
    target: pd.Series
    protected: pd.DataFrame


def _column(feature: Feature) -> pa.Column:
    checks: list[pa.Check] = []
    if feature.type == "categorical":
        checks.append(pa.Check.isin(feature.categories or [], name="allowed categories"))
        return pa.Column(str, checks=checks, nullable=not feature.required, coerce=False)
    if feature.min is not None:
        checks.append(pa.Check.ge(feature.min, name=f"minimum {feature.min:g}"))
    if feature.max is not None:
        checks.append(pa.Check.le(feature.max, name=f"maximum {feature.max:g}"))
    return pa.Column(float, checks=checks, nullable=not feature.required, coerce=False)


def pandera_schema(schema: FeatureSchema) -> pa.DataFrameSchema:
    """The pandera schema of the feature columns (target and protected checked separately)."""
    return pa.DataFrameSchema(
        {f.name: _column(f) for f in schema.features}, strict=False, name="features"
    )


def _rows(index: pd.Series) -> str:
    rows = sorted({int(i) + 1 for i in index.dropna() if isinstance(i, (int, np.integer))})
    if not rows:
        return ""
    shown = ", ".join(map(str, rows[:_MAX_ROWS_SHOWN]))
    more = f" and {len(rows) - _MAX_ROWS_SHOWN} more" if len(rows) > _MAX_ROWS_SHOWN else ""
    return f" (rows {shown}{more})"


def _prepare(frame: pd.DataFrame, schema: FeatureSchema, problems: list[str]) -> pd.DataFrame:
    """Cast declared types column by column, recording values that cannot be cast."""
    out = pd.DataFrame(index=frame.index)
    for f in schema.features:
        if f.name not in frame.columns:
            if f.required:
                problems.append(f"column {f.name!r}: missing (required feature)")
            else:
                out[f.name] = (
                    np.nan
                    if f.type == "numeric"
                    else pd.Series(pd.NA, index=frame.index, dtype=object)
                )
            continue
        col = frame[f.name]
        if f.type == "numeric":
            if pd.api.types.is_bool_dtype(col):
                problems.append(f"column {f.name!r}: expected numeric, found booleans")
                continue
            cast = pd.to_numeric(col, errors="coerce")
            bad = col.notna() & cast.isna()
            if bad.any():
                sample = col[bad].astype(str).unique()[:3].tolist()
                problems.append(
                    f"column {f.name!r}: expected numeric, found text such as {sample}"
                    + _rows(pd.Series(col.index[bad]))
                )
            out[f.name] = cast.astype("float64")
        else:
            out[f.name] = col.map(lambda v: v if pd.isna(v) else str(v)).astype(object)
    return out


def validate_training_frame(
    frame: pd.DataFrame, schema: FeatureSchema, source: str = "data"
) -> ValidatedData:
    """Validate ``frame`` for training; raise :class:`DataValidationError` listing every problem."""
    problems: list[str] = []
    if frame.empty:
        raise DataValidationError(["no rows"], source)
    frame = frame.reset_index(drop=True)
    tname = schema.target.name
    if tname not in frame.columns:
        problems.append(f"target column {tname!r}: missing")
    for p in schema.protected:
        if p.source not in frame.columns:
            problems.append(
                f"column {p.source!r}: missing (source of protected attribute {p.name!r})"
            )
    features = _prepare(frame, schema, problems)
    if not problems:
        try:
            pandera_schema(schema).validate(features, lazy=True)
        except SchemaErrors as exc:
            cases = exc.failure_cases
            for (column, check), group in cases.groupby(["column", "check"], sort=False):
                values = group["failure_case"].astype(str).unique()[:3].tolist()
                what = "missing values" if "not_nullable" in str(check) else f"fails {check}"
                problems.append(
                    f"column {column!r}: {what}"
                    + ("" if "not_nullable" in str(check) else f", e.g. {values}")
                    + _rows(group["index"])
                )
    target = pd.Series(dtype="int64")
    if tname in frame.columns:
        raw = frame[tname]
        pos = {str(v) for v in schema.target.positive}
        neg = {str(v) for v in schema.target.negative}
        as_text = raw.map(lambda v: None if pd.isna(v) else _norm(v))
        unknown = as_text.isna() | ~as_text.isin(pos | neg)
        if unknown.any():
            sample = raw[unknown].astype(str).unique()[:3].tolist()
            problems.append(
                f"target column {tname!r}: unknown or missing values {sample} "
                f"(expected one of {sorted(pos | neg)})" + _rows(pd.Series(raw.index[unknown]))
            )
        else:
            target = as_text.isin(pos).astype("int64").rename(tname)
            counts = target.value_counts()
            if len(counts) < 2:
                only = "default (positive)" if counts.index[0] == 1 else "non-default (negative)"
                problems.append(
                    f"target column {tname!r}: only one class present ({only}); "
                    "need both defaults and non-defaults"
                )
            elif int(counts.min()) < 10:
                problems.append(
                    f"target column {tname!r}: the minority class has only {int(counts.min())} "
                    "rows; at least 10 are needed"
                )
    if problems:
        raise DataValidationError(problems, source)
    protected = pd.DataFrame({p.name: p.groups(frame) for p in schema.protected}, index=frame.index)
    return ValidatedData(features=features, target=target, protected=protected)


def _norm(value: object) -> str:
    """Normalise target values so that 1, 1.0 and "1" compare equal."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    return str(value)
