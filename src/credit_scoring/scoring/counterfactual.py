"""What would change the decision: the smallest changes that move an applicant to a better band.

For an additive model (each tree splits on one feature, see :mod:`credit_scoring.scoring.additive`)
the raw margin is ``bias + sum_j c_j(x_j)`` with one step function ``c_j`` per feature, and the
decision depends on the margin alone (PD and points are monotone in it). Moving to a better band
means lowering the margin below the band's cut-off, and a change of feature ``j`` from ``x_j`` to
``v`` lowers it by exactly ``c_j(x_j) - c_j(v)``. The search is therefore exact and combinatorial:

* candidates: per actionable feature, every other category (only those listed in the feature's
  ``actionable_categories`` if given: "close your checking account" is not advice), or one
  value in every other interval of the step function (the one nearest to the applicant's
  value, within the declared range, on the integer grid for integer features, and only in the
  risk-lowering direction of a declared monotone constraint);
* features declared ``immutable`` or protected in the schema are never changed;
* cost: one feature changed counts more than any amount of change (fewest features first), then
  the size of the change: the relative change ``|new - old| / max(|old|, 1)`` for a number, 1 for
  a category switch. Per feature only Pareto-optimal candidates (more gain for more cost) are kept;
* suggestions: for each better band, the cheapest candidate combination of every minimal feature
  set (no subset of it reaches the band), fewest features first, then cheapest.

Every suggestion is then re-scored by the model itself (:meth:`CreditModel.score`), never
estimated; a suggestion whose re-scored decision does not reach its band is dropped.

A logistic regression's numeric terms are linear, not steps: their candidates are a ladder of
moves toward the risk-lowering side (``_linear_candidates``), so its suggestions are near-minimal
and ``exact`` is false; they are re-scored like every other.

Models with feature interactions have no per-feature tables: the effect of a change depends on
the other features, so :func:`counterfactuals` says so and offers nothing (``available=False``).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations, product
from typing import Any

from credit_scoring.data.schema import Feature, FeatureSchema
from credit_scoring.scoring.additive import AdditiveTables, FeatureTable
from credit_scoring.scoring.model import CreditModel
from credit_scoring.scoring.scaling import Decision

#: Better bands to try from each decision, nearest first.
_BETTER: dict[str, tuple[Decision, ...]] = {
    "decline": ("review", "approve"),
    "review": ("approve",),
    "approve": (),
}
_RANK = {"approve": 0, "review": 1, "decline": 2}
#: Margin slack so that a suggestion lands strictly inside the band (PD < cut-off).
_SLACK = 1e-9
NOT_ADDITIVE_NOTE = (
    "This model version has feature interactions (free LightGBM, or GA2M pairs): the effect of "
    "changing one feature depends on the others, so the smallest changes cannot be computed "
    "exactly and no suggestions are offered. Additive models and scorecards get exact "
    "suggestions."
)


@dataclass(frozen=True)
class Candidate:
    """One possible change of one feature and what it does to the raw margin."""

    column: int
    value: Any  # the new value as the applicant would enter it (category label or number)
    encoded: float
    gain: float  # margin decrease (log-odds of default, raw booster units); > 0 lowers risk
    cost: float


@dataclass(frozen=True)
class Change:
    """One feature change of a suggestion."""

    feature: str
    label: str
    current: Any
    suggested: Any
    points: float  # score points this change alone adds (exact for an additive model)


@dataclass(frozen=True)
class Suggestion:
    """A set of changes that reaches ``target``, with the model's own re-scored result."""

    target: Decision
    changes: list[Change]
    probability: float
    score: float
    decision: str


@dataclass(frozen=True)
class Counterfactuals:
    """The answer to "what would change the decision" for one applicant."""

    available: bool
    exact: bool
    decision: str
    probability: float
    score: float
    suggestions: list[Suggestion] = field(default_factory=list)
    note: str = ""


# --- candidates -------------------------------------------------------------------------------
def _numeric_point(feature: Feature, table: FeatureTable, k: int, current: float) -> float | None:
    """The value of interval ``k`` nearest to ``current`` that the schema allows, or None."""
    ts = table.thresholds or []
    lo = ts[k - 1] if k > 0 else -math.inf  # interval k is (lo, hi]
    hi = ts[k] if k < len(ts) else math.inf
    p: float
    if current > hi:  # moving down: the largest value of the interval
        p = math.floor(hi) if feature.integer else math.floor(hi * 100) / 100
        if not p > lo:
            p = hi
        if feature.max is not None and p > feature.max:
            p = feature.max
    else:  # moving up: the smallest value of the interval
        p = math.floor(lo) + 1 if feature.integer else math.floor(lo * 100) / 100 + 0.01
        if p > hi:
            p = (lo + hi) / 2
        if feature.min is not None and p < feature.min:
            p = feature.min
    allowed = (feature.min is None or p >= feature.min) and (
        feature.max is None or p <= feature.max
    )
    if not allowed or (feature.integer and p != math.floor(p)) or bisect_left(ts, p) != k:
        return None
    return float(p)


#: Linear terms: moves toward the risk-lowering side, as shares of the distance to the bound.
_LADDER = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)


def _linear_candidates(
    feature: Feature, table: FeatureTable, column: int, current: float, now: float
) -> list[Candidate]:
    """Changes of a number with a linear term (logistic regression): a ladder of moves in the
    risk-lowering direction up to the declared bound (or to 0 without one), each scored by the
    table; the smallest move reaching a band lies between two rungs, so these suggestions are
    near-minimal rather than minimal (still re-scored before being shown)."""
    slope = (table.slopes or [0.0])[bisect_left(table.thresholds or [], current)]
    if slope == 0:
        return []
    down = slope > 0  # a lower value lowers the risk
    bound = feature.min if down else feature.max
    if bound is None:
        bound = min(current, 0.0) if down else max(current, 0.0)
        if bound == current:
            bound = current - max(abs(current), 1.0) if down else current + max(abs(current), 1.0)
    out = []
    seen = set()
    for share in _LADDER:
        p = current + share * (bound - current)
        if feature.integer:
            p = float(math.floor(p) if down else math.ceil(p))
        if p == current or p in seen or (down and p < bound) or (not down and p > bound):
            continue
        seen.add(p)
        cost = abs(p - current) / max(abs(current), 1.0)
        value: Any = int(p) if feature.integer else p
        out.append(Candidate(column, value, p, now - table.lookup(p), cost))
    return out


def candidates(
    schema: FeatureSchema, tables: AdditiveTables, row: list[float], column: int
) -> list[Candidate]:
    """Pareto-optimal changes of one feature (cheapest first, each gaining more than the last)."""
    feature = schema.features[column]
    table = tables.tables[column]
    here = row[column]
    now = table.lookup(here)
    found: list[Candidate] = []
    if feature.type == "categorical":
        allowed = feature.actionable_categories
        for code, label in enumerate(feature.categories or []):
            if (here == here and code == int(here)) or (
                allowed is not None and label not in allowed
            ):
                continue
            found.append(Candidate(column, label, float(code), now - table.values[code], 1.0))
    elif here == here and table.slopes is not None:
        found += _linear_candidates(feature, table, column, here, now)
    elif here == here:  # a missing number has no "nearest" value to move from
        current = here
        i = bisect_left(table.thresholds or [], current)
        for k in range(len(table.values)):
            if k == i:
                continue
            if feature.monotone == "increasing" and k > i:
                continue  # higher values never lower the risk
            if feature.monotone == "decreasing" and k < i:
                continue
            p = _numeric_point(feature, table, k, current)
            if p is None:
                continue
            cost = abs(p - current) / max(abs(current), 1.0)
            value: Any = int(p) if feature.integer else p
            found.append(Candidate(column, value, p, now - table.values[k], cost))
    found.sort(key=lambda c: (c.cost, -c.gain))
    front: list[Candidate] = []
    best = 0.0
    for c in found:
        if c.gain > best:
            front.append(c)
            best = c.gain
    return front


# --- search -----------------------------------------------------------------------------------
def _cheapest(fronts: list[list[Candidate]], needed: float) -> tuple[Candidate, ...] | None:
    """The cheapest one-candidate-per-feature combination whose gains sum above ``needed``."""
    *head, last = fronts
    gains = [c.gain for c in last]  # increasing along the front, as the cost
    best: tuple[Candidate, ...] | None = None
    best_cost = math.inf
    for combo in product(*head) if head else [()]:
        got = sum(c.gain for c in combo)
        j = bisect_right(gains, needed - got + _SLACK)
        if j == len(last):
            continue
        cost = sum(c.cost for c in combo) + last[j].cost
        if cost < best_cost:
            best, best_cost = (*combo, last[j]), cost
    return best


def search(
    schema: FeatureSchema,
    tables: AdditiveTables,
    row: list[float],
    needed: float,
    *,
    max_changes: int = 3,
    limit: int = 5,
) -> list[tuple[Candidate, ...]]:
    """Minimal change sets lowering the margin by more than ``needed``, fewest and cheapest first.

    A pure function of the lookup tables and the applicant's encoded ``row``.
    """
    locked = schema.unchangeable
    fronts = {
        j: front
        for j, f in enumerate(schema.features)
        if f.name not in locked and (front := candidates(schema, tables, row, j))
    }
    found: list[tuple[Candidate, ...]] = []
    feasible_sets: list[frozenset[int]] = []
    for k in range(1, max_changes + 1):
        level: list[tuple[float, tuple[Candidate, ...]]] = []
        for cols in combinations(sorted(fronts), k):
            if any(s <= set(cols) for s in feasible_sets):
                continue  # a subset already reaches the band: this set is not minimal
            if sum(fronts[j][-1].gain for j in cols) <= needed + _SLACK:
                continue
            combo = _cheapest([fronts[j] for j in cols], needed)
            if combo is not None:
                level.append((sum(c.cost for c in combo), combo))
        feasible_sets += [frozenset(c.column for c in combo) for _, combo in level]
        level.sort(key=lambda item: (item[0], [c.column for c in item[1]]))
        found += [combo for _, combo in level]
        if len(found) >= limit:
            break
    return found[:limit]


def _margin_below(model: CreditModel, pd_cut: float) -> float:
    """The raw margin at which the calibrated PD equals ``pd_cut`` (PD rises with the margin)."""
    cal = model.calibration
    return (math.log(pd_cut / (1.0 - pd_cut)) - cal.intercept) / cal.slope


def counterfactuals(
    model: CreditModel,
    record: Mapping[str, Any],
    *,
    max_changes: int = 3,
    limit: int = 3,
    schema: FeatureSchema | None = None,
) -> Counterfactuals:
    """Suggestions reaching each better band for one applicant, each re-scored by ``model``.

    ``limit`` suggestions at most per band, each changing at most ``max_changes`` features.
    ``schema`` says what may change (immutable, protected, ranges, actionable categories); the
    API passes its own declared schema, so a version trained before a feature was declared
    immutable still never gets it changed. Its features must be the model's (same order).
    """
    schema = schema or model.schema
    if schema.feature_names != model.schema.feature_names:
        raise ValueError("the schema's features are not the model's")
    now = model.score([record], max_reasons=0)[0]
    if not isinstance(model.tables, AdditiveTables):
        return Counterfactuals(
            False, False, now.decision, now.probability, now.score, note=NOT_ADDITIVE_NOTE
        )
    targets = _BETTER[now.decision]
    if not targets:
        note = "Already in the best band (approve)."
        return Counterfactuals(True, True, now.decision, now.probability, now.score, note=note)
    tables = model.tables
    row = model.encoder.encode_row(record)
    margin = sum(tables.row(row))
    cuts = {
        "approve": model.scaling.approve_below_pd,
        "review": model.scaling.decline_above_pd,
    }
    point_factor = model.scaling.factor * model.calibration.slope
    suggestions: list[Suggestion] = []
    unreachable = []
    for target in targets:
        needed = margin - _margin_below(model, cuts[target])
        sets = search(schema, tables, row, needed, max_changes=max_changes, limit=limit)
        kept = 0
        for combo in sets:
            changed = dict(record)
            for c in combo:
                changed[schema.features[c.column].name] = c.value
            res = model.score([changed], max_reasons=0)[0]
            if _RANK[res.decision] > _RANK[target]:
                continue  # cannot happen with exact tables; never show an unverified suggestion
            changes = [
                Change(
                    feature=(f := schema.features[c.column]).name,
                    label=f.label,
                    current=record.get(f.name),
                    suggested=c.value,
                    points=point_factor * c.gain,
                )
                for c in combo
            ]
            suggestions.append(
                Suggestion(target, changes, res.probability, res.score, res.decision)
            )
            kept += 1
        if not kept:
            unreachable.append(target)
    note = ""
    if unreachable:
        note = (
            f"No change of at most {max_changes} actionable features reaches "
            + " or ".join(unreachable)
            + " (immutable and protected features are never changed)."
        )
    exact = not any(t.slopes for t in tables.tables)
    return Counterfactuals(True, exact, now.decision, now.probability, now.score, suggestions, note)
