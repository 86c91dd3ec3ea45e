"""Serve a WoE scorecard through the same path as LightGBM: compile it into an additive booster.

A fitted optbinning scorecard computes ``log-odds = intercept + sum_j coef_j * WoE_j(x_j)``: a sum
of step functions, one per feature, which is exactly what an additive LightGBM model is. This
module writes that sum as a LightGBM model file, **one tree per feature**
(``training.additive_booster``):

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

from credit_scoring.data.schema import FeatureSchema
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.training.additive_booster import categorical_tree, step_tree, write_booster
from credit_scoring.training.scorecard import scorecard_pd

TOLERANCE = 1e-9


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
            trees.append(categorical_tree(j, values, missing, x[:, j]))
        else:
            trees.append(step_tree(j, splits, values, missing, x[:, j]))
    booster = write_booster(trees, schema, encoder, x, shift=intercept)
    margin = np.asarray(booster.predict(x, raw_score=True))
    expected = scorecard_pd(card, frame)
    got = 1.0 / (1.0 + np.exp(-margin))
    worst = float(np.max(np.abs(got - expected))) if len(got) else 0.0
    if not worst <= TOLERANCE or not math.isfinite(worst):
        raise RuntimeError(f"compiled scorecard differs from the scorecard by {worst:.3g}")
    return booster
