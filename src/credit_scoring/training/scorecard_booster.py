"""Serve a WoE scorecard through the same path as LightGBM: compile it into an additive booster.

A fitted optbinning scorecard computes ``log-odds = intercept + sum_j coef_j * WoE_j(x_j)``: a sum
of step functions, one per feature, which is exactly what an additive LightGBM model is. This
module writes that sum as a LightGBM model file, **one tree per feature**:

* numeric feature with bin edges ``s_1 < ... < s_m`` (optbinning's bins are ``[s_k, s_k+1)``):
  the root sends a missing value to its own leaf; the other values go down a chain of splits
  ``x <= nextafter(s_k, -inf)`` (identical to ``x < s_k``), one leaf per bin;
* categorical feature: a chain of categorical splits, one per group of categories sharing a
  WoE; a missing or unseen category reaches the last leaf (optbinning gives both WoE 0);
* leaf value = ``coef_j * WoE`` of the bin (the intercept is added to the first tree's leaves),
  leaf count = training rows in the bin + 1 (TreeSHAP's expectations need non-empty leaves).

The booster's raw margin is the scorecard's log-odds (calibration is the identity), so the API's
lookup tables (``scoring.additive``), TreeSHAP, the pyfunc and the gate serve a scorecard like any
additive model, and its reason codes are the scorecard's points relative to the average
applicant. :func:`compile_scorecard` checks the compiled booster against the scorecard's own
``predict_proba`` on the training rows and raises if they differ by more than 1e-9.
"""

from __future__ import annotations

import math
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from credit_scoring.data.schema import FeatureSchema
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.training.scorecard import scorecard_pd

TOLERANCE = 1e-9
_NAN_RIGHT = 2 << 2  # decision_type: missing type NaN (bits 2-3), default right (bit 1 unset)
_CATEGORICAL = 1


class _Tree:
    """A chain-shaped LightGBM tree under construction."""

    def __init__(self, feature: int) -> None:
        self.feature = feature
        self.nodes: list[dict[str, Any]] = []
        self.leaves: list[tuple[float, int]] = []  # (value, count)
        self.cat_words: list[list[int]] = []

    def leaf(self, value: float, count: int) -> int:
        self.leaves.append((value, count + 1))
        return ~(len(self.leaves) - 1)

    def text(self, index: int, shift: float) -> str:
        n_leaves = len(self.leaves)
        if not self.nodes:  # a constant: one leaf
            value = self.leaves[0][0] + shift
            return (
                f"Tree={index}\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nsplit_gain=\n"
                f"threshold=\ndecision_type=\nleft_child=\nright_child=\n"
                f"leaf_value={value!r}\nleaf_weight=0\nleaf_count=0\ninternal_value=\n"
                f"internal_weight=\ninternal_count=\nis_linear=0\nshrinkage=1\n\n"
            )
        counts = self._internal_counts()
        values = [v + shift for v, _ in self.leaves]
        lines = [
            f"Tree={index}",
            f"num_leaves={n_leaves}",
            f"num_cat={len(self.cat_words)}",
            "split_feature=" + " ".join(str(self.feature) for _ in self.nodes),
            "split_gain=" + " ".join("0" for _ in self.nodes),
            "threshold=" + " ".join(repr(n["threshold"]) for n in self.nodes),
            "decision_type=" + " ".join(str(n["decision"]) for n in self.nodes),
            "left_child=" + " ".join(str(n["left"]) for n in self.nodes),
            "right_child=" + " ".join(str(n["right"]) for n in self.nodes),
            "leaf_value=" + " ".join(repr(v) for v in values),
            "leaf_weight=" + " ".join(str(c) for _, c in self.leaves),
            "leaf_count=" + " ".join(str(c) for _, c in self.leaves),
            "internal_value=" + " ".join("0" for _ in self.nodes),
            "internal_weight=" + " ".join(str(c) for c in counts),
            "internal_count=" + " ".join(str(c) for c in counts),
        ]
        if self.cat_words:
            bounds = np.cumsum([0, *(len(w) for w in self.cat_words)])
            lines.append("cat_boundaries=" + " ".join(str(int(b)) for b in bounds))
            lines.append(
                "cat_threshold=" + " ".join(str(w) for words in self.cat_words for w in words)
            )
        lines += ["is_linear=0", "shrinkage=1", "", ""]
        return "\n".join(lines)

    def _internal_counts(self) -> list[int]:
        def count(child: int) -> int:
            if child < 0:
                return self.leaves[~child][1]
            node = self.nodes[child]
            return count(node["left"]) + count(node["right"])

        return [count(k) for k in range(len(self.nodes))]


def _bitset(codes: list[int]) -> list[int]:
    words = [0] * (max(codes) // 32 + 1)
    for c in codes:
        words[c // 32] |= 1 << (c % 32)
    return words


def _numeric_tree(
    j: int, splits: NDArray[np.float64], values: list[float], missing: float, x: NDArray
) -> _Tree:
    tree = _Tree(j)
    present = x[~np.isnan(x)]
    bins = np.searchsorted(splits, present, side="right")  # [s_k, s_k+1) -> bin k
    counts = np.bincount(bins, minlength=len(splits) + 1)
    n_missing = int(np.isnan(x).sum())
    # root: non-missing left (to the chain), missing right (its own leaf)
    tree.nodes.append(
        {"threshold": float(np.finfo(np.float64).max), "decision": _NAN_RIGHT, "left": 1}
    )
    if len(splits) == 0:
        tree.nodes[0]["left"] = tree.leaf(values[0], int(counts[0]))
    for k, s in enumerate(splits):
        node: dict[str, Any] = {
            "threshold": float(np.nextafter(s, -np.inf)),
            "decision": _NAN_RIGHT,
        }
        tree.nodes.append(node)
        node["left"] = tree.leaf(values[k], int(counts[k]))
        node["right"] = (
            len(tree.nodes) if k < len(splits) - 1 else tree.leaf(values[-1], int(counts[-1]))
        )
    tree.nodes[0]["right"] = tree.leaf(missing, n_missing)
    return tree


def _categorical_tree(j: int, values: list[float], missing: float, x: NDArray) -> _Tree:
    tree = _Tree(j)
    codes = x[~np.isnan(x)].astype(int)
    counts = np.bincount(codes, minlength=len(values))
    groups: dict[float, list[int]] = {}
    for code, v in enumerate(values):
        groups.setdefault(v, []).append(code)
    items = list(groups.items())
    for k, (value, members) in enumerate(items):
        tree.cat_words.append(_bitset(members))
        node: dict[str, Any] = {
            "threshold": len(tree.cat_words) - 1,
            "decision": _CATEGORICAL | _NAN_RIGHT,
        }
        tree.nodes.append(node)
        node["left"] = tree.leaf(value, int(counts[members].sum()))
        node["right"] = len(tree.nodes) if k < len(items) - 1 else None
    tree.nodes[-1]["right"] = tree.leaf(missing, int(np.isnan(x).sum()))
    return tree


def scorecard_terms(card: Any, schema: FeatureSchema) -> tuple[float, dict[str, Any]]:
    """Intercept and, per feature, ``coef * WoE`` per bin/category and for a missing value."""
    bp = card.binning_process_
    selected = list(bp.get_support(names=True))
    coef = dict(zip(selected, card.estimator_.coef_[0], strict=True))
    intercept = float(card.estimator_.intercept_[0])
    terms: dict[str, Any] = {}
    for f in schema.features:
        c = float(coef.get(f.name, 0.0))
        optb = bp.get_binned_variable(f.name)

        def woe(values: np.ndarray, optb: Any = optb, c: float = c) -> list[float]:
            return [c * float(w) for w in optb.transform(values, metric="woe")]

        missing = woe(np.array([np.nan]))[0]
        if f.type == "categorical":
            cats = np.array(f.categories or [], dtype=object)
            terms[f.name] = ("categorical", None, woe(cats), missing)
        else:
            splits = np.asarray(optb.splits, dtype=np.float64)
            probes = np.r_[splits[:1] - 1.0, splits] if len(splits) else np.array([0.0])
            terms[f.name] = ("numeric", splits, woe(probes), missing)
    return intercept, terms


def compile_scorecard(
    card: Any, schema: FeatureSchema, frame: pd.DataFrame, encoder: FeatureEncoder
) -> lgb.Booster:
    """The booster equivalent to ``card`` (see the module docstring); ``frame``: training rows."""
    intercept, terms = scorecard_terms(card, schema)
    x = encoder.encode_frame(frame)
    trees = []
    for j, f in enumerate(schema.features):
        kind, splits, values, missing = terms[f.name]
        if kind == "categorical":
            trees.append(_categorical_tree(j, values, missing, x[:, j]))
        else:
            trees.append(_numeric_tree(j, splits, values, missing, x[:, j]))
    infos = []
    for j, f in enumerate(schema.features):
        if f.type == "categorical":
            infos.append(":".join(str(c) for c in range(len(f.categories or []))))
        else:
            col = x[:, j][~np.isnan(x[:, j])]
            infos.append(f"[{float(col.min())!r}:{float(col.max())!r}]" if len(col) else "none")
    body = "".join(t.text(i, intercept if i == 0 else 0.0) for i, t in enumerate(trees))
    text = (
        "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n"
        f"max_feature_idx={len(schema.features) - 1}\nobjective=binary sigmoid:1\n"
        f"feature_names={' '.join(encoder.names)}\nfeature_infos={' '.join(infos)}\n\n"
        f"{body}end of trees\n\nfeature_importances:\n\nparameters:\nend of parameters\n\n"
        "pandas_categorical:null\n"
    )
    booster = lgb.Booster(model_str=text)
    margin = np.asarray(booster.predict(x, raw_score=True))
    expected = scorecard_pd(card, frame)
    got = 1.0 / (1.0 + np.exp(-margin))
    worst = float(np.max(np.abs(got - expected))) if len(got) else 0.0
    if not worst <= TOLERANCE or not math.isfinite(worst):
        raise RuntimeError(f"compiled scorecard differs from the scorecard by {worst:.3g}")
    return booster
