"""Logistic regression as a served family: fitted on the encoded features, served as an additive
booster with linear leaves.

Model: ``log-odds = bias + sum_j f_j(x_j)`` with

* numeric ``j``: ``f_j(x) = w_j * (x - mean_j) / sd_j`` for a present value and ``v_j`` for a
  missing one (mean imputation plus a missing indicator, like scikit-learn's
  ``SimpleImputer(add_indicator=True)`` before a ``StandardScaler``);
* categorical ``j``: one coefficient per category (one-hot) and one for a missing or unseen
  category (the encoder makes both NaN).

Fitted by L-BFGS-B on the L2-penalised log-likelihood (``C = 1``, intercept not penalised: the
objective of scikit-learn's ``LogisticRegression`` default), with one difference: a numeric
feature whose schema declares a monotone direction gets its coefficient's sign bounded by it
(``increasing``: ``w_j >= 0``), so the model keeps the schema's promises like every other family
(LightGBM's monotone constraints, the scorecard's monotonic bins). Without declared directions it
is plain logistic regression.

Each term is centred on its mean over the training rows (the bias absorbs the means), so a
feature's contribution reads like TreeSHAP's for the other families: relative to the average
applicant. :func:`compile_logistic` writes the model as a LightGBM booster
(``training.additive_booster``): a one-leaf linear tree per numeric feature, a categorical chain
per categorical feature and a constant tree for the bias. Its raw margin is the model's log-odds
(calibration is the identity), checked on the training rows to 1e-9. LightGBM's ``pred_contrib``
ignores linear leaves, so reason codes come from the lookup tables only (``scoring.additive``
reads linear leaves exactly; ``CreditModel`` refuses such a booster without its tables).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from credit_scoring.data.schema import FeatureSchema
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.training.additive_booster import (
    Tree,
    categorical_tree,
    constant_tree,
    linear_tree,
    write_booster,
)

TOLERANCE = 1e-9
C = 1.0


@dataclass(frozen=True)
class Term:
    """One feature's centred term: numeric ``const + coef * x``, categorical ``values[code]``;
    ``missing`` for NaN."""

    const: float
    coef: float
    values: list[float]
    missing: float


@dataclass(frozen=True)
class LogisticModel:
    """A fitted logistic regression as per-feature terms on the encoded matrix."""

    bias: float
    terms: list[Term]

    def margin(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Log-odds of default for an encoded matrix."""
        out = np.full(x.shape[0], self.bias, dtype=np.float64)
        for j, term in enumerate(self.terms):
            out += _term(term, x[:, j])
        return out

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probability of default for an encoded matrix."""
        return 1.0 / (1.0 + np.exp(-self.margin(x)))


def _term(term: Term, col: NDArray[np.float64]) -> NDArray[np.float64]:
    nan = np.isnan(col)
    if term.values:
        out = np.asarray(term.values, dtype=np.float64)[np.where(nan, 0, col).astype(np.intp)]
    else:
        out = term.const + term.coef * np.where(nan, 0.0, col)
    out[nan] = term.missing
    return out


def _design(
    schema: FeatureSchema, x: NDArray[np.float64], scale: list[tuple[float, float]]
) -> NDArray[np.float64]:
    """Standardised numbers (missing -> 0) with missing indicators; one-hot categories + NaN."""
    blocks = []
    for j, f in enumerate(schema.features):
        col = x[:, j]
        nan = np.isnan(col)
        if f.type == "categorical":
            k = len(f.categories or [])
            onehot = np.zeros((len(col), k + 1))
            onehot[np.arange(len(col)), np.where(nan, k, col).astype(np.intp)] = 1.0
            blocks.append(onehot)
        else:
            mean, sd = scale[j]
            blocks.append(np.column_stack([np.where(nan, 0.0, (col - mean) / sd), nan]))
    return np.hstack(blocks) if blocks else np.zeros((x.shape[0], 0))


def fit_logistic(
    schema: FeatureSchema, x: NDArray[np.float64], y: NDArray[np.int64]
) -> LogisticModel:
    """Fit the model of the module docstring on encoded rows ``x``."""
    scale: list[tuple[float, float]] = []
    bounds: list[tuple[float | None, float | None]] = []
    for j, f in enumerate(schema.features):
        if f.type == "categorical":
            scale.append((0.0, 1.0))
            bounds += [(None, None)] * (len(f.categories or []) + 1)
            continue
        present = x[:, j][~np.isnan(x[:, j])]
        mean = float(present.mean()) if len(present) else 0.0
        sd = float(present.std()) if len(present) > 1 else 0.0
        scale.append((mean, sd if sd > 0 else 1.0))
        sign = {"increasing": (0.0, None), "decreasing": (None, 0.0)}.get(f.monotone or "")
        bounds += [sign or (None, None), (None, None)]
    z = _design(schema, x, scale)
    yf = y.astype(np.float64)

    def loss(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        w, b = theta[:-1], theta[-1]
        s = z @ w + b
        p = 1.0 / (1.0 + np.exp(-s))
        value = float(np.sum(np.logaddexp(0.0, s) - yf * s) + 0.5 / C * (w @ w))
        r = p - yf
        return value, np.r_[z.T @ r + w / C, r.sum()]

    prior = min(max(float(yf.mean()), 1e-6), 1 - 1e-6)
    start = np.r_[np.zeros(z.shape[1]), math.log(prior / (1 - prior))]
    result = minimize(
        loss,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[*bounds, (None, None)],
        options={"maxiter": 5000, "gtol": 1e-8},
    )
    w, bias = result.x[:-1], float(result.x[-1])
    terms = []
    k = 0
    for j, f in enumerate(schema.features):
        if f.type == "categorical":
            n = len(f.categories or []) + 1
            values = [float(v) for v in w[k : k + n]]
            terms.append(Term(0.0, 0.0, values[:-1], values[-1]))
        else:
            mean, sd = scale[j]
            terms.append(Term(float(-w[k] * mean / sd), float(w[k] / sd), [], float(w[k + 1])))
            n = 2
        k += n
    # centre every term on the training rows; the bias takes the means
    centred = []
    for j, term in enumerate(terms):
        m = float(_term(term, x[:, j]).mean()) if len(x) else 0.0
        bias += m
        centred.append(
            Term(term.const - m, term.coef, [v - m for v in term.values], term.missing - m)
        )
    return LogisticModel(bias, centred)


def compile_logistic(
    model: LogisticModel, schema: FeatureSchema, encoder: FeatureEncoder, x: NDArray[np.float64]
) -> lgb.Booster:
    """The booster equivalent to ``model`` (see the module docstring); ``x``: training rows."""
    trees: list[Tree] = [constant_tree(model.bias)]
    for j, (f, term) in enumerate(zip(schema.features, model.terms, strict=True)):
        if f.type == "categorical":
            trees.append(categorical_tree(j, term.values, term.missing, x[:, j]))
        else:
            trees.append(linear_tree(j, term.const, term.coef, term.missing, x[:, j]))
    booster = write_booster(trees, schema, encoder, x)
    got = np.asarray(booster.predict(x, raw_score=True))
    worst = float(np.max(np.abs(got - model.margin(x)))) if len(x) else 0.0
    if not worst <= TOLERANCE or not math.isfinite(worst):
        raise RuntimeError(f"compiled logistic regression differs from the model by {worst:.3g}")
    return booster
