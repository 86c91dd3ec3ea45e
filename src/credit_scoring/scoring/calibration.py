"""Platt calibration of the booster's raw margin (part of the served artifact).

``pd = sigmoid(slope * margin + intercept)``: monotone and linear in log-odds, so the booster's
SHAP contributions stay exact contributions to the calibrated log-odds (times ``slope``), and
reason codes and score points stay consistent with the calibrated probability. Fitting lives in
``training.lgbm.fit_calibration``; applying it is all serving needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of the raw margin: ``pd = sigmoid(slope * margin + intercept)``."""

    slope: float = 1.0
    intercept: float = 0.0

    def apply(self, margin: NDArray[np.float64]) -> NDArray[np.float64]:
        z = self.slope * margin + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def probability(self, margin: float) -> float:
        """:meth:`apply` for one margin, on a Python float."""
        return 1.0 / (1.0 + math.exp(-(self.slope * margin + self.intercept)))
