"""Score scaling: probability of default -> score points -> decision band.

The industry-standard points-to-double-the-odds scaling::

    factor = pdo / ln(2)
    offset = base_points - factor * ln(base_odds)
    score  = offset + factor * ln((1 - pd) / pd)

so a score of ``base_points`` means good:bad odds of ``base_odds`` and every ``pdo`` points double
the odds. Decisions: approve when ``pd < approve_below_pd``, decline when
``pd >= decline_above_pd``, review in between. The scaling is stored with each model version
(``scaling.json``) so that serving uses exactly what was validated.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

Decision = Literal["approve", "review", "decline"]
DECISIONS: tuple[Decision, ...] = ("approve", "review", "decline")
_EPS = 1e-9


class ScoreScaling(BaseModel):
    """PDO scaling and decision cut-offs of one model version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pdo: float = Field(default=20.0, gt=0, description="Points to double the odds.")
    base_points: float = Field(default=600.0, description="Score at `base_odds`.")
    base_odds: float = Field(default=50.0, gt=0, description="Good:bad odds at `base_points`.")
    approve_below_pd: float = Field(
        default=0.15, gt=0, lt=1, description="Approve when PD is below this."
    )
    decline_above_pd: float = Field(
        default=0.45, gt=0, lt=1, description="Decline when PD is at or above this."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ScoreScaling:
        if self.approve_below_pd >= self.decline_above_pd:
            raise ValueError(
                "approve_below_pd must be below decline_above_pd "
                f"({self.approve_below_pd} >= {self.decline_above_pd})"
            )
        return self

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_points - self.factor * math.log(self.base_odds)

    def points(self, pd_: ArrayLike) -> NDArray[np.float64]:
        """Score points for probabilities of default."""
        p = np.clip(np.asarray(pd_, dtype=np.float64), _EPS, 1 - _EPS)
        return self.offset + self.factor * np.log((1 - p) / p)

    def point(self, pd_: float) -> float:
        """:meth:`points` for one probability, on a Python float."""
        p = min(max(pd_, _EPS), 1 - _EPS)
        return self.offset + self.factor * math.log((1 - p) / p)

    def pd_at(self, points: float) -> float:
        """Probability of default at a given score (inverse of :meth:`points`)."""
        log_odds_good = (points - self.offset) / self.factor
        return 1.0 / (1.0 + math.exp(log_odds_good))

    def log_odds_to_points(self, log_odds_bad: ArrayLike) -> NDArray[np.float64]:
        """Signed point impact of a log-odds-of-default contribution (risk up = points down)."""
        return -self.factor * np.asarray(log_odds_bad, dtype=np.float64)

    def decisions(self, pd_: ArrayLike) -> NDArray[np.str_]:
        """Decision band per probability of default."""
        p = np.asarray(pd_, dtype=np.float64)
        return np.where(
            p < self.approve_below_pd,
            "approve",
            np.where(p >= self.decline_above_pd, "decline", "review"),
        )

    def decision(self, pd_: float) -> Decision:
        if pd_ < self.approve_below_pd:
            return "approve"
        if pd_ >= self.decline_above_pd:
            return "decline"
        return "review"
