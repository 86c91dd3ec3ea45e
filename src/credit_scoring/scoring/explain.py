"""Points gained and lost per feature: the score of one applicant decomposed exactly.

The score is linear in the booster's raw margin (``score = offset - factor * (slope * margin +
intercept)``) and the margin is the sum of the per-feature contributions plus a bias (LightGBM's
``pred_contrib``: the additive lookup tables, or TreeSHAP for a model with interactions). So

    score = base_points + sum of the features' points

with ``base_points`` the score of an average applicant. This is what the workbench draws.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_scoring.scoring.model import CreditModel


@dataclass(frozen=True)
class FeaturePoints:
    """One feature's signed share of the score (> 0: the value raised the score)."""

    feature: str
    label: str
    value: Any
    points: float


@dataclass(frozen=True)
class ScoreBreakdown:
    base_points: float
    features: list[FeaturePoints]  # largest absolute impact first

    @property
    def total(self) -> float:
        return self.base_points + sum(f.points for f in self.features)


def breakdown(model: CreditModel, record: Mapping[str, Any]) -> ScoreBreakdown:
    """Exact per-feature points of ``record`` (lookup tables, else LightGBM's TreeSHAP)."""
    row = model.encoder.encode_row(record)
    if model.tables is not None:
        contrib = model.tables.row(row)
    else:
        x = np.asarray([row], dtype=np.float64)
        contrib = np.asarray(model.booster.predict(x, pred_contrib=True, num_threads=1))[0].tolist()
    cal, factor = model.calibration, model.scaling.factor
    base = model.scaling.offset - factor * (cal.slope * contrib[-1] + cal.intercept)
    features = [
        FeaturePoints(f.name, f.label, record.get(f.name), -factor * cal.slope * c)
        for f, c in zip(model.schema.features, contrib[:-1], strict=True)
    ]
    features.sort(key=lambda f: -abs(f.points))
    return ScoreBreakdown(base, features)
