"""Reason texts: the specific words for a feature that lowered an applicant's score.

The texts come from the reason-text catalogue declared in the feature schema
(``Feature.adverse``): numeric features say whether the value hurt because it was too high or too
low, categorical features have a text per adverse category. A feature without a catalogue entry
falls back to its label and value ("Loan duration in months (36) raises the risk of default"),
which still names the feature: there is no vague "other" reason.

Whether a numeric value was "too high" or "too low" is read from the additive model's lookup table
when there is one (the side where the nearest lower-risk interval lies, or the sign of a linear
term's slope), else from the declared monotone direction.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any, Literal

from credit_scoring.data.schema import Feature
from credit_scoring.scoring.additive import FeatureTable

Side = Literal["high", "low"]


def shown_value(value: Any) -> str:
    """The applicant's value as people read it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _declared(feature: Feature) -> Side | None:
    if feature.monotone == "increasing":
        return "high"
    if feature.monotone == "decreasing":
        return "low"
    return None


def _side_in(table: FeatureTable, i: int) -> Side | None:
    """The side of interval ``i`` read from the table (None: the table does not tell)."""
    if table.slopes is not None and table.slopes[i] != 0:  # a linear term: its slope
        return "high" if table.slopes[i] > 0 else "low"
    here = table.values[i]
    below = min(table.values[:i], default=math.inf)
    above = min(table.values[i + 1 :], default=math.inf)
    if below < here or above < here:
        return "high" if below <= above else "low"
    return None


def side_of(feature: Feature, encoded: float, table: FeatureTable | None) -> Side | None:
    """For a numeric feature: did the value hurt because it was too high or too low?"""
    if feature.type != "numeric" or math.isnan(encoded):
        return None
    if table is not None and table.thresholds is not None:
        side = _side_in(table, bisect_left(table.thresholds, encoded))
        if side is not None:
            return side
    return _declared(feature)


def sides_by_interval(feature: Feature, table: FeatureTable | None) -> list[Side | None] | None:
    """:func:`side_of` for every interval of ``table`` at once, for a model to keep: serving
    then pays one bisection per reason instead of scanning the table (None: no numeric table)."""
    if feature.type != "numeric" or table is None or table.thresholds is None:
        return None
    declared = _declared(feature)
    return [_side_in(table, i) or declared for i in range(len(table.values))]


def adverse_text(feature: Feature, value: Any, side: Side | None) -> str:
    """The catalogue text for ``feature`` at ``value`` (``{value}`` filled in), or the fallback."""
    shown = shown_value(value)
    texts = feature.adverse
    text: str | None = None
    if texts is not None:
        if shown == "missing":
            text = texts.missing or f"{feature.label}: not provided"
        elif feature.type == "categorical":
            text = texts.categories.get(str(value)) or texts.default
        elif side is not None:
            text = texts.high if side == "high" else texts.low
    if not text:
        return f"{feature.label} ({shown}) raises the risk of default"
    return text.replace("{value}", shown)
