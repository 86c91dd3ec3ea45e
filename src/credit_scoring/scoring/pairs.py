"""Lookup tables for a GA2M booster: exact TreeSHAP contributions from 1-D and 2-D tables.

A GA2M model here is a LightGBM booster trained with interaction constraints that allow
one-feature trees and trees on a few chosen pairs (``training.candidates``): every root-to-leaf
path uses one feature or one allowed pair. LightGBM's (path-dependent) TreeSHAP then attributes
each leaf's value only to the features on its path, so the contribution of feature ``i`` is

    phi_i(x) = T_i(x_i) + sum over partners j of D_ij(x_i, x_j)

where ``T_i`` is its contribution when every other feature is missing and ``D_ij`` what a value
of partner ``j`` adds to it. **Attribution rule of a pair**: a pair's points are split between its
two features exactly as TreeSHAP splits them (the Shapley values of the pair's trees, with
LightGBM's training cover as the reference), so reason codes are LightGBM's own ``pred_contrib``.

The tables are filled by probing ``pred_contrib`` on the grid of each feature's split points
(others missing) and on the grid of each pair, then checked against ``pred_contrib`` on random
combinations of probe points: :meth:`PairTables.from_booster` returns ``None`` (the model keeps
the TreeSHAP path) if the booster is not of this form or any contribution differs by more than
:data:`TOLERANCE`. Scoring one applicant is then a few ``bisect`` and list lookups.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from itertools import product

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from credit_scoring.data.schema import FeatureSchema

TOLERANCE = 1e-9
MAX_GRID = 200_000  # probe rows per pair; larger grids keep the TreeSHAP path
_CHECK_ROWS = 512


PairThresholds = dict[tuple[int, int], tuple[set[float], set[float]]]


def _paths(booster: lgb.Booster) -> tuple[list[set[float]], PairThresholds] | None:
    """Numeric thresholds per feature, and per pair used on one path the thresholds of its two
    features on such paths; ``None`` if a path uses three features or more."""
    n = booster.num_feature()
    thresholds: list[set[float]] = [set() for _ in range(n)]
    pairs: PairThresholds = {}
    dump = booster.dump_model(num_iteration=booster.best_iteration or None)
    for tree in dump["tree_info"]:
        start: tuple[dict, tuple[tuple[int, float | None], ...]] = (tree["tree_structure"], ())
        stack = [start]
        while stack:
            node, path = stack.pop()
            if "split_feature" not in node:
                used = {f for f, _ in path}
                if len(used) > 2:
                    return None
                if len(used) == 2:
                    i, j = sorted(used)
                    ts_i, ts_j = pairs.setdefault((i, j), (set(), set()))
                    for f, t in path:
                        if t is not None:
                            (ts_i if f == i else ts_j).add(t)
                continue
            f = node["split_feature"]
            t = float(node["threshold"]) if node["decision_type"] == "<=" else None
            if t is not None:
                thresholds[f].add(t)
            step = (*path, (f, t))
            stack += [(node["left_child"], step), (node["right_child"], step)]
    return thresholds, pairs


class _TreeText:
    """A booster's model text split into trees, with the feature pairs each tree's paths use:
    a booster of only the trees of one pair is much cheaper to probe (the other trees add the
    same to both terms of a pair table's difference)."""

    def __init__(self, booster: lgb.Booster) -> None:
        text = booster.model_to_string(num_iteration=booster.best_iteration or None)
        head, rest = text.split("\nTree=0\n", 1)
        trees_text, self.tail = rest.split("\nend of trees", 1)
        self.head = "\n".join(
            line for line in head.split("\n") if not line.startswith("tree_sizes=")
        )
        self.blocks = [
            b.split("\n", 1)[1].strip() for b in ("Tree=0\n" + trees_text).split("\n\n\n")
        ]
        dump = booster.dump_model(num_iteration=booster.best_iteration or None)["tree_info"]
        self.pairs: list[set[tuple[int, int]]] = []
        for tree in dump:
            found: set[tuple[int, int]] = set()
            stack = [(tree["tree_structure"], frozenset[int]())]
            while stack:
                node, used = stack.pop()
                if "split_feature" in node:
                    used = used | {node["split_feature"]}
                    stack += [(node["left_child"], used), (node["right_child"], used)]
                elif len(used) == 2:
                    a, b = sorted(used)
                    found.add((a, b))
            self.pairs.append(found)

    def booster_of(self, pair: tuple[int, int]) -> lgb.Booster:
        keep = [b for b, ps in zip(self.blocks, self.pairs, strict=True) if pair in ps]
        body = "".join(f"Tree={k}\n{b}\n\n\n" for k, b in enumerate(keep))
        return lgb.Booster(model_str=f"{self.head}\n{body}end of trees{self.tail}")


def _points(thresholds: list[float] | None, n_categories: int) -> list[float]:
    """One probe per interval (or category), then missing."""
    if thresholds is None:
        return [*(float(c) for c in range(n_categories)), math.nan]
    ts = thresholds
    return [*ts, ts[-1] + max(1.0, abs(ts[-1])) if ts else 0.0, math.nan]


def _grid_index(thresholds: list[float] | None, size: int, value: float) -> int:
    if value != value:  # NaN: the last index
        return size - 1
    if thresholds is None:
        code = int(value)
        return code if 0 <= code < size - 1 else size - 1
    return bisect_left(thresholds, value)


def _grid_indices(
    thresholds: list[float] | None, size: int, col: NDArray[np.float64]
) -> NDArray[np.intp]:
    nan = np.isnan(col)
    if thresholds is None:
        codes = np.where(nan, -1, col).astype(np.intp)
        return np.where(nan | (codes < 0) | (codes >= size - 1), size - 1, codes)
    return np.where(nan, size - 1, np.searchsorted(thresholds, col, side="left"))


class PairTable:
    """What one pair adds to the contributions of its two features, on its own grid."""

    def __init__(
        self,
        i: int,
        j: int,
        grids: tuple[list[float] | None, list[float] | None],
        to_i: list[list[float]],
        to_j: list[list[float]],
    ) -> None:
        self.i, self.j = i, j
        self.grids = grids  # pair-specific thresholds (None: categorical codes)
        self.to_i, self.to_j = to_i, to_j
        self.shape = (len(to_i), len(to_i[0]))
        self._to_i, self._to_j = np.asarray(to_i), np.asarray(to_j)

    def add_row(self, row: Sequence[float], out: list[float]) -> None:
        a = _grid_index(self.grids[0], self.shape[0], row[self.i])
        b = _grid_index(self.grids[1], self.shape[1], row[self.j])
        out[self.i] += self.to_i[a][b]
        out[self.j] += self.to_j[a][b]

    def add_matrix(self, x: NDArray[np.float64], out: NDArray[np.float64]) -> None:
        a = _grid_indices(self.grids[0], self.shape[0], x[:, self.i])
        b = _grid_indices(self.grids[1], self.shape[1], x[:, self.j])
        out[:, self.i] += self._to_i[a, b]
        out[:, self.j] += self._to_j[a, b]


class PairTables:
    """Per-feature and per-pair tables equivalent to ``pred_contrib`` of a GA2M booster."""

    def __init__(
        self,
        thresholds: list[list[float] | None],
        main: list[list[float]],
        pairs: list[PairTable],
        bias: float,
    ) -> None:
        #: Per feature: sorted numeric thresholds, or ``None`` for a categorical feature.
        self.thresholds = thresholds
        #: Per feature: contribution by grid index (last index: missing), partners missing.
        self.main = main
        self.pairs = pairs
        self.bias = bias
        self._main = [np.asarray(m) for m in main]

    def row(self, row: Sequence[float]) -> list[float]:
        """``pred_contrib`` of one encoded row as a list (features, then the bias)."""
        out = [
            m[_grid_index(ts, len(m), v)]
            for m, ts, v in zip(self.main, self.thresholds, row, strict=True)
        ]
        for pair in self.pairs:
            pair.add_row(row, out)
        out.append(self.bias)
        return out

    def contrib_matrix(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """``pred_contrib``-shaped matrix (features + bias column) for an encoded matrix."""
        n, k = x.shape
        out = np.empty((n, k + 1), dtype=np.float64)
        for j in range(k):
            out[:, j] = self._main[j][_grid_indices(self.thresholds[j], len(self.main[j]), x[:, j])]
        for pair in self.pairs:
            pair.add_matrix(x, out)
        out[:, -1] = self.bias
        return out

    @classmethod
    def from_booster(cls, booster: lgb.Booster, schema: FeatureSchema) -> PairTables | None:
        """Compile ``booster``; ``None`` if it is not a GA2M or the self-check fails."""
        n = booster.num_feature()
        if n != len(schema.features):
            return None
        found = _paths(booster)
        if found is None or not found[1]:
            return None  # not a GA2M (three-feature paths), or additive (AdditiveTables)
        raw_thresholds, raw_pairs = found

        def grid(j: int, ts: set[float]) -> list[float] | None:
            return None if schema.features[j].type == "categorical" else sorted(ts)

        def n_cats(j: int) -> int:
            return len(schema.features[j].categories or [])

        thresholds = [grid(j, raw_thresholds[j]) for j in range(n)]
        probes = [_points(thresholds[j], n_cats(j)) for j in range(n)]
        main = []
        bias = 0.0
        for j, points in enumerate(probes):
            x = np.full((len(points), n), math.nan)
            x[:, j] = points
            contrib = np.asarray(booster.predict(x, pred_contrib=True, num_threads=1))
            main.append(contrib[:, j].tolist())
            bias = float(contrib[0, -1])
        trees = _TreeText(booster)
        pairs = []
        for (i, j), (ts_i, ts_j) in sorted(raw_pairs.items()):
            sub = trees.booster_of((i, j))
            grids = (grid(i, ts_i), grid(j, ts_j))
            p_i, p_j = _points(grids[0], n_cats(i)), _points(grids[1], n_cats(j))
            if len(p_i) * len(p_j) > MAX_GRID:
                return None
            g = np.array(list(product(p_i, p_j)), dtype=np.float64)
            x = np.full((len(g), n), math.nan)
            x[:, i], x[:, j] = g[:, 0], g[:, 1]
            contrib = np.asarray(sub.predict(x, pred_contrib=True, num_threads=0))
            alone_i = np.full((len(p_i), n), math.nan)  # the same x_i, partner missing
            alone_i[:, i] = p_i
            c_i = np.asarray(sub.predict(alone_i, pred_contrib=True, num_threads=1))[:, i]
            alone_j = np.full((len(p_j), n), math.nan)
            alone_j[:, j] = p_j
            c_j = np.asarray(sub.predict(alone_j, pred_contrib=True, num_threads=1))[:, j]
            shape = (len(p_i), len(p_j))
            pairs.append(
                PairTable(
                    i,
                    j,
                    grids,
                    (contrib[:, i].reshape(shape) - c_i[:, np.newaxis]).tolist(),
                    (contrib[:, j].reshape(shape) - c_j[np.newaxis, :]).tolist(),
                )
            )
        result = cls(thresholds, main, pairs, bias)
        return result if result._agrees(booster, probes, pairs) else None

    def _agrees(
        self, booster: lgb.Booster, probes: Sequence[Sequence[float]], pairs: list[PairTable]
    ) -> bool:
        rng = np.random.default_rng(0)
        x = np.array(
            [[p[int(rng.integers(len(p)))] for p in probes] for _ in range(_CHECK_ROWS)],
            dtype=np.float64,
        )
        expected = np.asarray(booster.predict(x, pred_contrib=True, num_threads=1))
        if np.max(np.abs(self.contrib_matrix(x) - expected)) > TOLERANCE:
            return False
        return all(
            max(abs(a - b) for a, b in zip(self.row(r), e, strict=True)) <= TOLERANCE
            for r, e in zip(x[:32].tolist(), expected[:32].tolist(), strict=True)
        )
