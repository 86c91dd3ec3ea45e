"""Master scale: probability of default -> rating grade.

A master scale is a fixed, ordered set of PD bands shared by every model version of a lender,
so that a grade means the same risk whichever model produced it (this is how IRB banks map PDs
to internal grades; backtesting and grade migration are reported per grade). Each grade is the
half-open band ``[lower, upper)`` of PD; the last grade ends at 1 (inclusive).

Decision taken here: the default scale has 8 grades whose upper bounds roughly double
(0.5%, 1%, 2%, 4%, 8%, 15%, 30%, 100%), labelled ``A`` (best) to ``H`` (worst). A lender
declares its own scale with ``CREDIT_SCORING_MASTER_SCALE`` (JSON: ``{"labels": [...],
"upper_bounds": [...]}``); it is stored with each model version (``master_scale.json``, like
``scaling.json``) so that serving and backtesting use the scale the version was validated with.
"""

from __future__ import annotations

import itertools
import math
from typing import Self

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_LABELS: tuple[str, ...] = ("A", "B", "C", "D", "E", "F", "G", "H")
DEFAULT_UPPER_BOUNDS: tuple[float, ...] = (0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.30, 1.0)


class MasterScale(BaseModel):
    """Ordered PD bands: grade ``labels[i]`` holds PDs in
    ``[upper_bounds[i-1], upper_bounds[i])``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: tuple[str, ...] = Field(default=DEFAULT_LABELS, min_length=2)
    upper_bounds: tuple[float, ...] = Field(default=DEFAULT_UPPER_BOUNDS, min_length=2)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(self.labels) != len(self.upper_bounds):
            raise ValueError(
                f"master scale: {len(self.labels)} labels but {len(self.upper_bounds)} upper bounds"
            )
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("master scale: grade labels must be unique")
        bounds = self.upper_bounds
        if any(not 0 < b <= 1 for b in bounds):
            raise ValueError("master scale: upper bounds must lie in (0, 1]")
        if any(b2 <= b1 for b1, b2 in itertools.pairwise(bounds)):
            raise ValueError("master scale: upper bounds must increase strictly")
        if bounds[-1] != 1.0:
            raise ValueError("master scale: the last upper bound must be 1 (every PD has a grade)")
        return self

    @property
    def lower_bounds(self) -> tuple[float, ...]:
        return (0.0, *self.upper_bounds[:-1])

    def grade_index(self, pd_: ArrayLike) -> NDArray[np.intp]:
        """Index of the grade of each PD (0 = best)."""
        p = np.asarray(pd_, dtype=np.float64)
        return np.minimum(
            np.searchsorted(np.asarray(self.upper_bounds), p, side="right"), len(self.labels) - 1
        )

    def grades(self, pd_: ArrayLike) -> NDArray[np.str_]:
        """Grade label of each PD."""
        return np.asarray(self.labels)[self.grade_index(pd_)]

    def grade(self, pd_: float) -> str:
        """Grade label of one PD, on Python floats (the API's single-applicant path)."""
        for label, upper in zip(self.labels, self.upper_bounds, strict=True):
            if pd_ < upper:
                return label
        return self.labels[-1]

    def central_pd(self) -> dict[str, float]:
        """Representative PD of each grade: geometric mean of its bounds (the first grade's lower
        bound taken as a tenth of its upper bound)."""
        out: dict[str, float] = {}
        for label, lo, hi in zip(self.labels, self.lower_bounds, self.upper_bounds, strict=True):
            lo = lo if lo > 0 else hi / 10
            out[label] = math.sqrt(lo * hi)
        return out

    def table(self) -> list[dict[str, float | str]]:
        """The scale as rows (grade, PD from, PD to), for reports and model cards."""
        return [
            {"grade": label, "pd_from": lo, "pd_to": hi}
            for label, lo, hi in zip(self.labels, self.lower_bounds, self.upper_bounds, strict=True)
        ]
