"""Per-batch validation and encoding of Arrow record batches against the model's feature schema.

The rules are those of the API's request model (``api.schemas``), applied to whole columns:

* a required feature must have a value (null/empty is ``missing``); an optional one may be null
  (scored as missing, like ``null`` in a request);
* a numeric feature must parse as a number (text columns are parsed; a value that does not parse
  is ``not a number``), be finite, be whole when declared ``integer`` and lie within ``min`` and
  ``max``;
* a categorical feature's value, as text, must be one of the declared categories.

Every failing (row, column) is reported with the offending value; a row with any failure is
rejected whole and the others are encoded exactly as :class:`FeatureEncoder` encodes them
(numbers as float64, categories as their index), ready for the lookup tables.

A required feature missing from the input altogether is not a per-row problem but a wrong input:
:func:`check_columns` refuses it before anything is read or written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from credit_scoring.data.schema import Feature, FeatureSchema

MISSING = "missing (required)"
NOT_A_NUMBER = "not a number"
NOT_FINITE = "not a finite number"
NOT_WHOLE = "not a whole number"
NOT_A_CATEGORY = "not one of the allowed categories"


class InputSchemaError(ValueError):
    """The input's columns cannot be scored by the model (missing feature, name clash)."""


@dataclass(frozen=True)
class Problems:
    """Rejected (row, column) pairs of one batch: row indices are positions in the batch."""

    rows: NDArray[np.int64]
    columns: list[str]
    values: list[str | None]
    reasons: list[str]

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class ValidatedBatch:
    """The encoded valid rows of a batch, which rows they are, and the problems of the others."""

    x: NDArray[np.float64]  # (valid rows, features), FeatureEncoder layout
    valid: NDArray[np.bool_]  # per input row
    problems: Problems


def check_columns(names: Sequence[str], schema: FeatureSchema, reserved: Sequence[str]) -> None:
    """Refuse an input without a required feature or with a column named like an output."""
    present = set(names)
    missing = [f.name for f in schema.features if f.required and f.name not in present]
    if missing:
        raise InputSchemaError(
            f"input has no column for required feature(s) {missing}; columns are {list(names)}"
        )
    clash = [c for c in names if c in set(reserved)]
    if clash:
        raise InputSchemaError(
            f"input column(s) {clash} have the names of output columns; rename them"
        )


def _as_text(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_string(column.type):
        return column
    if pa.types.is_large_string(column.type):
        return pc.cast(column, pa.string())
    return pc.cast(column, pa.string())


def _as_float(column: pa.Array) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """(values with NaN for null or unparsable, mask of non-null values that did not parse)."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    t = column.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=np.float64), np.zeros(len(column), dtype=bool)
    text = _as_text(column)
    try:
        values = pc.cast(pc.utf8_trim_whitespace(text), pa.float64())
        parsed = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        return parsed, np.zeros(len(column), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # Slow path, only for batches holding an unparsable value: value by value.
    out = np.full(len(text), np.nan)
    bad = np.zeros(len(text), dtype=bool)
    for i, v in enumerate(text.to_pylist()):
        if v is None:
            continue
        try:
            out[i] = float(v)
        except ValueError:
            bad[i] = True
    return out, bad


def _numeric(
    feature: Feature, column: pa.Array, null: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], list[tuple[NDArray[np.bool_], str]]]:
    values, unparsable = _as_float(column)
    checks: list[tuple[NDArray[np.bool_], str]] = [(unparsable, NOT_A_NUMBER)]
    present = ~null & ~unparsable
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(values)
        checks.append((present & ~finite, NOT_FINITE))
        ok = present & finite
        if feature.integer:
            checks.append((ok & (np.mod(values, 1.0) != 0), NOT_WHOLE))
        if feature.min is not None:
            checks.append((ok & (values < feature.min), f"below the minimum {feature.min:g}"))
        if feature.max is not None:
            checks.append((ok & (values > feature.max), f"above the maximum {feature.max:g}"))
    return values, checks


def _categorical(
    feature: Feature, column: pa.Array, null: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], list[tuple[NDArray[np.bool_], str]]]:
    text = _as_text(column)
    index = pc.index_in(text, value_set=pa.array(feature.categories or [], type=pa.string()))
    codes = np.asarray(
        pc.cast(index, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
    )
    unknown = ~null & np.isnan(codes)
    return codes, [(unknown, NOT_A_CATEGORY)]


def validate_batch(batch: pa.RecordBatch, schema: FeatureSchema) -> ValidatedBatch:
    """Validate and encode one record batch (columns by name; other columns are ignored)."""
    n = batch.num_rows
    names = set(batch.schema.names)
    # Column-major: the lookup tables read one feature column at a time.
    x = np.empty((len(schema.features), n), dtype=np.float64).T
    bad_rows: list[NDArray[np.int64]] = []
    bad_cols: list[str] = []
    bad_reasons: list[str] = []
    bad_values: list[pa.Array] = []
    valid = np.ones(n, dtype=bool)
    for j, feature in enumerate(schema.features):
        if feature.name not in names:  # optional and absent (check_columns refused the rest)
            x[:, j] = np.nan
            continue
        column = batch.column(feature.name)
        null = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if feature.type == "categorical":
            values, checks = _categorical(feature, column, null)
        else:
            values, checks = _numeric(feature, column, null)
        if feature.required:
            checks.insert(0, (null, MISSING))
        x[:, j] = values
        for mask, reason in checks:
            if mask.any():
                rows = np.flatnonzero(mask)
                valid[rows] = False
                bad_rows.append(rows)
                bad_cols += [feature.name] * len(rows)
                bad_reasons += [reason] * len(rows)
                bad_values.append(_as_text(column.take(pa.array(rows))))
    if bad_rows:
        rows = np.concatenate(bad_rows)
        texts = [v for arr in bad_values for v in arr.to_pylist()]
        order = np.argsort(rows, kind="stable")  # by row, then in schema order
        problems = Problems(
            rows=rows[order],
            columns=[bad_cols[i] for i in order],
            values=[texts[i] for i in order],
            reasons=[bad_reasons[i] for i in order],
        )
    else:
        problems = Problems(np.empty(0, dtype=np.int64), [], [], [])
    return ValidatedBatch(x=x if valid.all() else x[valid], valid=valid, problems=problems)
