"""The declared feature schema: the single source of truth about the model's inputs.

One schema (YAML or JSON) says which columns are features (numeric or categorical, ranges,
allowed categories, risk direction for monotone constraints, human-readable reason text), which
column is the target and which values mean default, and which protected attributes are measured
for fairness. It validates training data, builds the API's request model and drives drift
monitoring. It is stored with every model version (``feature_schema.json``).
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FeatureType = Literal["numeric", "categorical"]
Direction = Literal["increasing", "decreasing"]


_VAGUE_TEXTS = {"", "other", "others", "other reasons", "miscellaneous", "various", "n/a"}


class AdverseTexts(BaseModel):
    """Reason-text catalogue of one feature: the specific principal-reason texts printed on an
    adverse action notice (Reg B) when this feature lowered the score.

    Numeric features say why a value hurt (``high``: too high, ``low``: too low); categorical
    features give a text per adverse category (``categories``) and a ``default`` for the others.
    ``missing`` is used when the value was not provided. Vague texts ("other") are refused.
    """

    model_config = ConfigDict(extra="forbid")

    high: str | None = None
    low: str | None = None
    categories: dict[str, str] = Field(default_factory=dict)
    default: str | None = None
    missing: str | None = None

    @model_validator(mode="after")
    def _specific(self) -> AdverseTexts:
        texts = [self.high, self.low, self.default, self.missing, *self.categories.values()]
        for text in texts:
            if text is not None and text.strip().lower().rstrip(".") in _VAGUE_TEXTS:
                raise ValueError(f"reason text {text!r} is not specific")
        return self


class Feature(BaseModel):
    """One model input."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    type: FeatureType
    description: str = ""
    reason: str = Field(
        default="", description="Human-readable reason text for adverse-action codes."
    )
    required: bool = True
    min: float | None = None
    max: float | None = None
    integer: bool = False
    categories: list[str] | None = None
    monotone: Direction | None = Field(
        default=None, description="Direction in which default risk moves with the value."
    )
    immutable: bool = Field(
        default=False,
        description="The applicant cannot change it (age, past credit history...): "
        "counterfactual suggestions never change it.",
    )
    adverse: AdverseTexts | None = Field(
        default=None, description="Reason-text catalogue for adverse action notices."
    )
    actionable_categories: list[str] | None = Field(
        default=None,
        description="Categories a counterfactual may suggest moving to (default: every one).",
    )

    @model_validator(mode="after")
    def _check(self) -> Feature:
        if self.type == "categorical":
            if not self.categories:
                raise ValueError(f"feature {self.name!r}: a categorical feature needs categories")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError(f"feature {self.name!r}: duplicate categories")
            if self.min is not None or self.max is not None or self.monotone is not None:
                raise ValueError(
                    f"feature {self.name!r}: min/max/monotone apply to numeric features only"
                )
        elif self.categories:
            raise ValueError(f"feature {self.name!r}: categories apply to categorical features")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"feature {self.name!r}: min {self.min} > max {self.max}")
        return self

    @model_validator(mode="after")
    def _check_adverse(self) -> Feature:
        targets = self.actionable_categories
        if targets is not None and not set(targets) <= set(self.categories or []):
            raise ValueError(
                f"feature {self.name!r}: actionable_categories must be among its categories"
            )
        texts = self.adverse
        if texts is None:
            return self
        if self.type == "categorical":
            unknown = sorted(set(texts.categories) - set(self.categories or []))
            if unknown:
                raise ValueError(f"feature {self.name!r}: adverse texts for unknown {unknown}")
            if texts.high or texts.low:
                raise ValueError(f"feature {self.name!r}: adverse high/low are for numeric")
        elif texts.categories or texts.default:
            raise ValueError(f"feature {self.name!r}: adverse categories are for categorical")
        return self

    @property
    def label(self) -> str:
        return self.reason or self.description or self.name.replace("_", " ")


class Target(BaseModel):
    """The target column and which of its values mean default (bad = 1)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    positive: list[str | int | float | bool] = Field(
        min_length=1, description="Values meaning default (bad)."
    )
    negative: list[str | int | float | bool] = Field(
        min_length=1, description="Values meaning no default (good)."
    )


class ProtectedAttribute(BaseModel):
    """An attribute measured for fairness, derived from a source column."""

    model_config = ConfigDict(extra="forbid")

    name: str
    source: str
    bins: list[float] | None = Field(
        default=None, description="Band edges for a numeric source (e.g. age)."
    )
    mapping: dict[str, str] | None = Field(
        default=None, description="Source value -> group label (e.g. marital status -> sex)."
    )

    def groups(self, frame: pd.DataFrame) -> pd.Series:
        """The group label of every row of ``frame``."""
        values = frame[self.source]
        if self.bins:
            edges = [-np.inf, *self.bins, np.inf]
            labels = [_band_label(lo, hi) for lo, hi in pairwise(edges)]
            banded = pd.cut(pd.to_numeric(values), bins=edges, labels=labels, right=False)
            return banded.astype(str).rename(self.name)
        if self.mapping:
            return values.astype(str).map(self.mapping).fillna("other").rename(self.name)
        return values.astype(str).rename(self.name)


def _band_label(lo: float, hi: float) -> str:
    if np.isinf(lo):
        return f"<{hi:g}"
    if np.isinf(hi):
        return f">={lo:g}"
    return f"{lo:g}-{hi:g}"


class FeatureSchema(BaseModel):
    """Features, target and protected attributes of one credit dataset."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    target: Target
    features: list[Feature] = Field(min_length=1)
    protected: list[ProtectedAttribute] = Field(default_factory=list)
    date_column: str | None = Field(
        default=None,
        description="Application date (never a feature): the gate evaluates on the latest rows "
        "(out of time) when it is present.",
    )

    @model_validator(mode="after")
    def _unique(self) -> FeatureSchema:
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate feature names: {dupes}")
        if self.target.name in names:
            raise ValueError(f"target {self.target.name!r} is also declared as a feature")
        if self.date_column and self.date_column in names:
            raise ValueError(f"date column {self.date_column!r} cannot also be a feature")
        return self

    # --- views ---------------------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical(self) -> list[Feature]:
        return [f for f in self.features if f.type == "categorical"]

    @property
    def numeric(self) -> list[Feature]:
        return [f for f in self.features if f.type == "numeric"]

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def unchangeable(self) -> set[str]:
        """Features a counterfactual may never change: declared immutable or protected."""
        protected = {p.source for p in self.protected} | {p.name for p in self.protected}
        return {f.name for f in self.features if f.immutable or f.name in protected}

    @property
    def required_columns(self) -> list[str]:
        """Columns a training file must have: target, required features, protected sources."""
        cols = [self.target.name, *(f.name for f in self.features if f.required)]
        cols += [p.source for p in self.protected if p.source not in cols]
        return cols

    # --- I/O -----------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> FeatureSchema:
        """Read a schema from YAML or JSON, with a clear error naming the file."""
        file = Path(path)
        if not file.is_file():
            raise FileNotFoundError(f"schema file {str(file)!r} does not exist")
        try:
            raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ValueError(f"schema file {str(file)!r} is not valid YAML/JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise ValueError(f"schema file {str(file)!r} must hold a mapping")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'schema'}: "
                + e["msg"].removeprefix("Value error, ")
                for e in exc.errors()
            )
            raise ValueError(f"schema file {str(file)!r} is invalid: {problems}") from exc

    def dump(self, path: str | Path) -> Path:
        """Write YAML (``.yaml``/``.yml``) or JSON (anything else)."""
        file = Path(path)
        data = self.model_dump(mode="json", exclude_none=True)
        if file.suffix in {".yaml", ".yml"}:
            file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        else:
            file.write_text(json.dumps(data, indent=2), encoding="utf-8")
        return file

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), indent=2)


def infer_schema(
    frame: pd.DataFrame,
    target: str,
    *,
    max_categories: int = 50,
    positive: list[Any] | None = None,
) -> FeatureSchema:
    """Infer a schema from a DataFrame: numeric vs categorical, categories, observed ranges.

    The positive (default) class is ``positive`` if given; otherwise, for a two-valued target,
    1/True/"bad"/"default"/"yes" when present, else the minority value.
    """
    if target not in frame.columns:
        raise ValueError(f"target column {target!r} not found; columns are {list(frame.columns)}")
    values = frame[target].dropna().unique().tolist()
    if len(values) != 2:
        raise ValueError(
            f"target column {target!r} must have exactly two values to infer a schema, "
            f"found {len(values)}: {sorted(map(str, values))[:10]}"
        )
    if positive is None:
        positive = _guess_positive(frame[target].dropna())
    negative = [v for v in values if v not in positive]
    features: list[Feature] = []
    for col in frame.columns:
        if col == target:
            continue
        series = frame[col]
        required = not series.isna().any()
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            cats = sorted(series.dropna().astype(str).unique().tolist())
            if len(cats) > max_categories:
                raise ValueError(
                    f"column {col!r} has {len(cats)} distinct text values (more than "
                    f"{max_categories}); declare it in a schema file or drop it"
                )
            if not cats:
                raise ValueError(f"column {col!r} has no values")
            features.append(
                Feature(name=str(col), type="categorical", categories=cats, required=required)
            )
        else:
            numeric = pd.to_numeric(series)
            is_int = bool(
                pd.api.types.is_integer_dtype(series) or (numeric.dropna() % 1 == 0).all()
            )
            features.append(
                Feature(
                    name=str(col),
                    type="numeric",
                    required=required,
                    integer=is_int,
                    min=_to_float(numeric.min()),
                    max=_to_float(numeric.max()),
                )
            )
    return FeatureSchema(
        target=Target(name=target, positive=_plain(positive), negative=_plain(negative)),
        features=features,
    )


def _guess_positive(target: pd.Series) -> list[Any]:
    values = target.unique().tolist()
    for candidate in (1, True, "1", "bad", "default", "yes", "Y", "true"):
        for v in values:
            if v == candidate or (isinstance(v, str) and v.lower() == str(candidate).lower()):
                return [v]
    counts = target.value_counts()
    return [counts.idxmin()]


def _plain(values: list[Any]) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def _to_float(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)
