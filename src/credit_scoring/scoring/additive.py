"""Lookup tables for an additive booster: exact SHAP contributions in O(features).

When every tree of a LightGBM ensemble splits on a single feature (training with one-feature
interaction constraints, the default here), the model is a sum of one-dimensional step functions,
one per feature, and a feature's TreeSHAP contribution depends on that feature's value alone. The
ensemble then compiles into one table per feature:

* numeric: the sorted split thresholds ``t_1 < ... < t_k`` and the contribution on each of the
  ``k + 1`` intervals ``(-inf, t_1], (t_1, t_2], ..., (t_k, inf)`` (LightGBM sends ``x <= t`` left),
  plus the contribution of a missing value;
* categorical: the contribution of each category code, plus that of a missing value.

The tables are filled by LightGBM itself: :meth:`AdditiveTables.from_booster` probes
``Booster.predict(pred_contrib=True)`` once per interval and category (other features missing),
then checks the tables against ``pred_contrib`` on random combinations of the probes and refuses
(returns ``None``) if they differ, so a served model either gets tables that reproduce LightGBM's
own contributions or keeps the TreeSHAP path. Scoring one applicant is then ~20 dictionary or
``bisect`` lookups instead of a TreeSHAP pass over hundreds of trees.

A booster with **linear leaves** (the compiled logistic regression, ``training.logistic``) is
additive too, but its numeric terms are linear, not steps: a numeric table then also holds a
slope per interval (contribution ``values[k] + slopes[k] * x``). LightGBM's ``pred_contrib``
ignores linear leaves, so these tables are read from the trees themselves: LightGBM routes each
probe (``pred_leaf``) and the leaves' constants and coefficients are summed per feature; the
contributions are the terms as the booster writes them (the compiler centres each on its
training mean, so they read like TreeSHAP's) and the bias is the sum of the feature-less trees.
The tables are then checked against the booster's raw margin (``predict``), on the probes and on
each feature's training range, to the same tolerance.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from credit_scoring.data.schema import FeatureSchema

#: Largest difference from ``pred_contrib`` (log-odds) tolerated by the self-check.
TOLERANCE = 1e-9
_CHECK_ROWS = 256


@dataclass(frozen=True)
class FeatureTable:
    """One feature's step function: its contribution (log-odds) for any encoded value."""

    name: str
    #: Numeric: sorted split thresholds. ``None``: categorical (``values`` is indexed by code).
    thresholds: list[float] | None
    #: Numeric: contribution per interval (``len(thresholds) + 1``); categorical: per code.
    values: list[float]
    missing: float
    #: Numeric with linear leaves: slope per interval (contribution ``values[k] + slopes[k] * x``).
    slopes: list[float] | None = None

    def lookup(self, value: float) -> float:
        """Contribution of one encoded value (NaN is missing)."""
        if value != value:  # NaN
            return self.missing
        if self.thresholds is None:
            return self.values[int(value)]
        k = bisect_left(self.thresholds, value)
        if self.slopes is None:
            return self.values[k]
        return self.values[k] + self.slopes[k] * value

    def column(self, column: NDArray[np.float64]) -> NDArray[np.float64]:
        """Contributions of an encoded column (vectorised)."""
        nan = np.isnan(column)
        if self.thresholds is None:
            idx = np.where(nan, 0, column).astype(np.intp)
        else:
            idx = np.searchsorted(np.asarray(self.thresholds), column, side="left")
        out = np.asarray(self.values, dtype=np.float64)[idx]
        if self.slopes is not None:
            out += np.asarray(self.slopes, dtype=np.float64)[idx] * column
        out[nan] = self.missing
        return out


class AdditiveTables:
    """Per-feature lookup tables equivalent to ``pred_contrib`` of an additive booster."""

    def __init__(self, tables: list[FeatureTable], bias: float) -> None:
        self.tables = tables
        #: Expected raw margin (the last ``pred_contrib`` column).
        self.bias = bias

    def row(self, row: Sequence[float]) -> list[float]:
        """``pred_contrib`` of one encoded row as a list (features, then the bias)."""
        out = [t.lookup(v) for t, v in zip(self.tables, row, strict=True)]
        out.append(self.bias)
        return out

    def contrib_matrix(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """``pred_contrib``-shaped matrix (features + bias column) for an encoded matrix."""
        out = np.empty((x.shape[0], len(self.tables) + 1), dtype=np.float64)
        for j, table in enumerate(self.tables):
            out[:, j] = table.column(x[:, j])
        out[:, -1] = self.bias
        return out

    @classmethod
    def from_booster(cls, booster: lgb.Booster, schema: FeatureSchema) -> AdditiveTables | None:
        """Compile ``booster`` into tables; ``None`` if it is not additive or the check fails."""
        n = booster.num_feature()
        if n != len(schema.features):
            return None
        dump = booster.dump_model(num_iteration=booster.best_iteration or None)
        thresholds = _split_thresholds(dump, n)
        if thresholds is None:
            return None
        probes: list[list[float]] = []
        for j, feature in enumerate(schema.features):
            if feature.type == "categorical":
                points = [float(c) for c in range(len(feature.categories or []))]
            else:
                ts = thresholds[j]
                # Each threshold stands for the interval it closes; one point above the last.
                points = [*ts, ts[-1] + max(1.0, abs(ts[-1])) if ts else 0.0]
            probes.append([*points, math.nan])
        if _has_linear_leaves(dump):
            return _linear_tables(booster, dump, schema, thresholds, probes)
        tables, bias = _probe(booster, schema, thresholds, probes)
        result = cls(tables, bias)
        return result if result._agrees(booster, probes) else None

    def _agrees(self, booster: lgb.Booster, probes: Sequence[Sequence[float]]) -> bool:
        rng = np.random.default_rng(0)
        x = np.array(
            [[p[int(rng.integers(len(p)))] for p in probes] for _ in range(_CHECK_ROWS)],
            dtype=np.float64,
        )
        expected = np.asarray(booster.predict(x, pred_contrib=True, num_threads=1))
        return bool(np.max(np.abs(self.contrib_matrix(x) - expected)) <= TOLERANCE)


def _split_thresholds(dump: dict[str, Any], n_features: int) -> list[list[float]] | None:
    """Sorted numeric thresholds per feature, or ``None`` if a tree uses two features."""
    found: list[set[float]] = [set() for _ in range(n_features)]
    for tree in dump["tree_info"]:
        used: set[int] = set()
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" not in node:
                used.update(node.get("leaf_features") or [])
                continue
            used.add(node["split_feature"])
            if node["decision_type"] == "<=":
                found[node["split_feature"]].add(float(node["threshold"]))
            stack += [node["left_child"], node["right_child"]]
        if len(used) > 1:
            return None
    return [sorted(s) for s in found]


def _probe(
    booster: lgb.Booster,
    schema: FeatureSchema,
    thresholds: list[list[float]],
    probes: list[list[float]],
) -> tuple[list[FeatureTable], float]:
    """Ask LightGBM for each probe's contribution, one feature at a time (others missing)."""
    n = len(probes)
    tables = []
    bias = 0.0
    for j, (feature, points) in enumerate(zip(schema.features, probes, strict=True)):
        x = np.full((len(points), n), math.nan)
        x[:, j] = points
        contrib = np.asarray(booster.predict(x, pred_contrib=True, num_threads=1))
        values = contrib[:-1, j].tolist()
        bias = float(contrib[0, -1])
        categorical = feature.type == "categorical"
        tables.append(
            FeatureTable(
                name=feature.name,
                thresholds=None if categorical else thresholds[j],
                values=values,
                missing=float(contrib[-1, j]),
            )
        )
    return tables, bias


def _leaves(tree: dict[str, Any]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    stack = [tree["tree_structure"]]
    while stack:
        node = stack.pop()
        if "split_feature" in node:
            stack += [node["left_child"], node["right_child"]]
        else:
            out[int(node.get("leaf_index", 0))] = node
    return out


def _has_linear_leaves(dump: dict[str, Any]) -> bool:
    return any(
        leaf.get("leaf_features") for tree in dump["tree_info"] for leaf in _leaves(tree).values()
    )


def _tree_feature(tree: dict[str, Any]) -> int | None:
    """The one feature a tree uses (splits or linear leaves), ``None`` for a constant."""
    used: set[int] = set()
    stack = [tree["tree_structure"]]
    while stack:
        node = stack.pop()
        if "split_feature" in node:
            used.add(int(node["split_feature"]))
            stack += [node["left_child"], node["right_child"]]
        else:
            used.update(int(f) for f in node.get("leaf_features") or [])
    return next(iter(used)) if used else None


def _linear_tables(
    booster: lgb.Booster,
    dump: dict[str, Any],
    schema: FeatureSchema,
    thresholds: list[list[float]],
    probes: list[list[float]],
) -> AdditiveTables | None:
    """Tables of a booster with linear leaves (see the module docstring), or ``None``."""
    trees = dump["tree_info"]
    owner = [_tree_feature(t) for t in trees]
    leaves = [_leaves(t) for t in trees]
    bias = sum(float(leaves[i][0]["leaf_value"]) for i, f in enumerate(owner) if f is None)
    n = len(probes)
    tables = []
    for j, (feature, points) in enumerate(zip(schema.features, probes, strict=True)):
        x = np.full((len(points), n), math.nan)
        x[:, j] = points
        routed = np.asarray(booster.predict(x, pred_leaf=True, num_threads=1)).reshape(
            len(points), len(trees)
        )
        consts = np.zeros(len(points))
        slopes = np.zeros(len(points))
        for i in (i for i, f in enumerate(owner) if f == j):
            for p in range(len(points)):
                leaf = leaves[i][int(routed[p, i])]
                linear = bool(leaf.get("leaf_features"))
                if p == len(points) - 1:  # NaN: LightGBM gives the leaf value
                    consts[p] += float(
                        leaf["leaf_value"] if linear else leaf.get("leaf_const", leaf["leaf_value"])
                    )
                    continue
                consts[p] += float(leaf.get("leaf_const", leaf["leaf_value"]))
                if linear:
                    slopes[p] += float(leaf["leaf_coeff"][0])
        categorical = feature.type == "categorical"
        if categorical and slopes.any():
            return None  # LightGBM never fits linear terms on categories; not ours
        tables.append(
            FeatureTable(
                name=feature.name,
                thresholds=None if categorical else thresholds[j],
                values=consts[:-1].tolist(),
                missing=float(consts[-1]),
                slopes=None if categorical else slopes[:-1].tolist(),
            )
        )
    result = AdditiveTables(tables, bias)
    infos = dump.get("feature_infos", {})
    checks = []
    for feature, points in zip(schema.features, probes, strict=True):
        info = infos.get(feature.name) or {}
        extra: list[float] = []
        if feature.type != "categorical" and "min_value" in info:
            lo, hi = float(info["min_value"]), float(info["max_value"])
            extra = [lo, (lo + hi) / 2, hi]
        checks.append([*points, *extra])
    rng = np.random.default_rng(0)
    x = np.array(
        [[p[int(rng.integers(len(p)))] for p in checks] for _ in range(_CHECK_ROWS)],
        dtype=np.float64,
    )
    expected = np.asarray(booster.predict(x, raw_score=True, num_threads=1))
    got = result.contrib_matrix(x).sum(axis=1)
    return result if bool(np.max(np.abs(got - expected)) <= TOLERANCE) else None
