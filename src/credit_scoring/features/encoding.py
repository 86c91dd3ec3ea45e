"""Schema-driven feature encoding shared by training and serving.

Numeric features pass through as float64; a categorical feature becomes the index of its value in
the schema's category list (LightGBM's native categorical input). Missing and unseen values become
NaN, which LightGBM routes as missing. Training encodes a DataFrame column-wise; serving encodes
plain dicts with pre-computed lookup tables and no pandas (the hot path).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from credit_scoring.data.schema import FeatureSchema


class FeatureEncoder:
    """Encode applicants into the float matrix the booster consumes."""

    def __init__(self, schema: FeatureSchema) -> None:
        self.schema = schema
        self.names = schema.feature_names
        self.categorical_indices = [
            i for i, f in enumerate(schema.features) if f.type == "categorical"
        ]
        # (name, lookup or None) per column: None means numeric.
        self._columns: list[tuple[str, dict[str, float] | None]] = [
            (
                f.name,
                {c: float(i) for i, c in enumerate(f.categories)} if f.categories else None,
            )
            for f in schema.features
        ]

    def category(self, column: int, code: float) -> str | None:
        """Category label of an encoded value (None for missing)."""
        cats = self.schema.features[column].categories or []
        return None if math.isnan(code) else cats[int(code)]

    def encode_frame(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """Encode a DataFrame (columns by name; extra columns ignored)."""
        out = np.empty((len(frame), len(self.names)), dtype=np.float64)
        for j, (name, lookup) in enumerate(self._columns):
            col = frame[name]
            if lookup is None:
                out[:, j] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
            else:
                out[:, j] = col.astype("string").map(lookup).astype("float64").to_numpy()
        return out

    def encode_row(self, record: Mapping[str, Any]) -> list[float]:
        """Encode one applicant into a list of floats (the single-row hot path)."""
        nan = math.nan
        row = []
        for name, lookup in self._columns:
            value = record.get(name)
            if value is None:
                row.append(nan)
            elif lookup is None:
                row.append(float(value))
            else:
                row.append(lookup.get(str(value), nan))
        return row

    def encode_records(self, records: Sequence[Mapping[str, Any]]) -> NDArray[np.float64]:
        """Encode plain dicts (missing keys and ``None`` become NaN) into a C-contiguous matrix."""
        # Python lists first, one array at the end: per-element numpy writes cost more.
        rows = [self.encode_row(rec) for rec in records]
        if not rows:
            return np.empty((0, len(self.names)), dtype=np.float64)
        return np.array(rows, dtype=np.float64)
