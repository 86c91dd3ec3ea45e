"""Write a sum of per-feature terms as a LightGBM model file: one tree per feature.

Families that are not boosted but are additive (the WoE scorecard, the logistic regression) are
served through the same path as LightGBM: their ``log-odds = bias + sum_j f_j(x_j)`` is written
as a LightGBM model, so the API's lookup tables (``scoring.additive``), the pyfunc, batch scoring
and the gate need nothing family-specific. The trees are chain-shaped:

* numeric step function with bin edges ``s_1 < ... < s_m`` (bins ``[s_k, s_k+1)``): the root
  sends a missing value to its own leaf; the other values go down a chain of splits
  ``x <= nextafter(s_k, -inf)`` (identical to ``x < s_k``), one leaf per bin;
* numeric linear term ``a + b * x``: one leaf with a linear model in ``x`` (LightGBM's
  ``linear_tree`` leaf format); LightGBM gives the leaf's constant value when ``x`` is missing,
  which holds the term of a missing value;
* categorical: a chain of categorical splits, one per group of categories sharing a value; a
  missing or unseen category (NaN once encoded) reaches the last leaf;
* a constant: one leaf without a feature (the bias, or a shift added to the first tree).

Leaf counts are the training rows reaching the leaf + 1 (TreeSHAP's expectations need non-empty
leaves); they do not change predictions.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from credit_scoring.data.schema import FeatureSchema
from credit_scoring.features.encoding import FeatureEncoder

_NAN_RIGHT = 2 << 2  # decision_type: missing type NaN (bits 2-3), default right (bit 1 unset)
_CATEGORICAL = 1


class Tree:
    """A chain-shaped LightGBM tree under construction (``feature`` -1: a constant)."""

    def __init__(self, feature: int) -> None:
        self.feature = feature
        self.nodes: list[dict[str, Any]] = []
        self.leaves: list[tuple[float, int]] = []  # (value, count)
        self.cat_words: list[list[int]] = []
        #: ``(constant, coefficient)`` of a one-leaf linear term; the leaf value is for NaN.
        self.linear: tuple[float, float] | None = None

    def leaf(self, value: float, count: int) -> int:
        self.leaves.append((value, count + 1))
        return ~(len(self.leaves) - 1)

    def text(self, index: int, shift: float) -> str:
        n_leaves = len(self.leaves)
        if not self.nodes:  # one leaf: a constant, or a linear term
            value = self.leaves[0][0] + shift
            linear = "is_linear=0\n"
            if self.linear is not None:
                const, coef = (float(v) for v in self.linear)
                linear = (
                    f"is_linear=1\nleaf_const={const + shift!r}\nnum_features=1\n"
                    f"leaf_features={self.feature} \nleaf_coeff={coef!r} \n"
                )
            return (
                f"Tree={index}\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nsplit_gain=\n"
                f"threshold=\ndecision_type=\nleft_child=\nright_child=\n"
                f"leaf_value={value!r}\nleaf_weight=0\nleaf_count=0\ninternal_value=\n"
                f"internal_weight=\ninternal_count=\n{linear}shrinkage=1\n\n"
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


def constant_tree(value: float) -> Tree:
    """A tree that adds ``value`` to every row."""
    tree = Tree(-1)
    tree.leaf(value, 0)
    return tree


def linear_tree(j: int, const: float, coef: float, missing: float, x: NDArray) -> Tree:
    """``const + coef * x`` for a present value of feature ``j``, ``missing`` for NaN."""
    tree = Tree(j)
    tree.leaf(missing, len(x))
    tree.linear = (const, coef)
    return tree


def step_tree(
    j: int, splits: NDArray[np.float64], values: list[float], missing: float, x: NDArray
) -> Tree:
    """Bins ``[s_k, s_k+1)`` of feature ``j`` with ``values`` (one more than ``splits``)."""
    tree = Tree(j)
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


def categorical_tree(j: int, values: list[float], missing: float, x: NDArray) -> Tree:
    """``values[code]`` for each category code of feature ``j``, ``missing`` for NaN."""
    tree = Tree(j)
    codes = x[~np.isnan(x)].astype(int)
    counts = np.bincount(codes, minlength=len(values))
    groups: dict[float, list[int]] = {}
    for code, v in enumerate(values):
        groups.setdefault(v, []).append(code)
    items = list(groups.items())
    if not items:  # no category declared: everything is missing
        tree.leaf(missing, len(x))
        return tree
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


def write_booster(
    trees: list[Tree],
    schema: FeatureSchema,
    encoder: FeatureEncoder,
    x: NDArray[np.float64],
    shift: float = 0.0,
) -> lgb.Booster:
    """The LightGBM booster summing ``trees`` (+ ``shift`` on the first); ``x``: training rows."""
    infos = []
    for j, f in enumerate(schema.features):
        if f.type == "categorical":
            infos.append(":".join(str(c) for c in range(len(f.categories or []))))
        else:
            col = x[:, j][~np.isnan(x[:, j])]
            infos.append(f"[{float(col.min())!r}:{float(col.max())!r}]" if len(col) else "none")
    body = "".join(t.text(i, shift if i == 0 else 0.0) for i, t in enumerate(trees))
    text = (
        "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n"
        f"max_feature_idx={len(schema.features) - 1}\nobjective=binary sigmoid:1\n"
        f"feature_names={' '.join(encoder.names)}\nfeature_infos={' '.join(infos)}\n\n"
        f"{body}end of trees\n\nfeature_importances:\n\nparameters:\nend of parameters\n\n"
        "pandas_categorical:null\n"
    )
    return lgb.Booster(model_str=text)
