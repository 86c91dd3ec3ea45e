"""Seeded synthetic credit applications of any size, with a known true probability of default.

The generator draws correlated applicant attributes (age, income, employment, credit history,
delinquencies, loan amount and duration, home ownership, purpose) and sets the true PD with a
fixed logistic model, so a model's estimates can be compared with the truth. Columns: the
features of :func:`synthetic_schema`, ``default`` (0/1), ``true_pd``, plus ``age`` and ``sex`` as
protected-attribute sources (neither enters the true PD). Chunked so that millions of rows fit.

The true log-odds (:func:`true_logit`) are **not** linear, so that model choice has something to
find:

* non-linear main effects: income acts through a hinge on log income (poverty matters, wealth
  beyond the median barely does); the first two years of employment carry most of its effect;
  delinquencies saturate (``log1p``); debt-to-income is convex above 0.35;
* three true pairwise interactions (each monotone in the direction the schema declares):
  ``debt_to_income x annual_income`` (a high ratio hurts low incomes more),
  ``delinquencies_2y x credit_history_months`` (recent delinquencies weigh more on a short
  history) and ``duration_months x loan_amount`` (long terms add risk on large loans only);
* realistic loan shapes: durations cluster at the usual terms (12, 24, 36, 48, 60 months) with a
  tail of odd ones; amounts are log-normal around a share of income that depends on the
  purpose, rounded to 100.

:func:`ground_truth_auc` is the AUC the true PD reaches on the drawn labels: no model can do
better on those rows (``credit-scoring generate`` prints it).

Drift (:data:`DRIFTS`) shifts the population for monitoring tests: ``income`` lowers incomes by
``drift_strength`` (default 20%); ``product_mix`` moves applications towards business and debt
consolidation loans with longer terms. The true PD model stays the same, so drift shows in the
inputs and in the default rate, as it would after a change of market.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from credit_scoring.data.schema import Feature, FeatureSchema, ProtectedAttribute, Target

HOME = ["rent", "own", "mortgage", "other"]
PURPOSE = ["car", "home_improvement", "debt_consolidation", "education", "business", "other"]
_HOME_RISK = np.array([0.25, -0.20, -0.10, 0.35])
_PURPOSE_RISK = np.array([-0.10, -0.15, 0.20, 0.10, 0.40, 0.05])
#: Loan amount as a share of annual income, median per purpose (log-normal around it).
_PURPOSE_AMOUNT = np.array([0.35, 0.25, 0.30, 0.15, 0.45, 0.12])
_PURPOSE_MIX = np.array([0.22, 0.15, 0.30, 0.08, 0.10, 0.15])
_DRIFTED_MIX = np.array([0.15, 0.10, 0.38, 0.07, 0.20, 0.10])
_TERMS = np.array([6, 12, 18, 24, 30, 36, 42, 48, 60, 72, 84])
_TERM_WEIGHTS = np.array([0.04, 0.16, 0.05, 0.22, 0.02, 0.20, 0.02, 0.12, 0.12, 0.03, 0.02])
_LONGER_TERMS = np.array([0.02, 0.08, 0.04, 0.16, 0.02, 0.22, 0.03, 0.15, 0.18, 0.06, 0.04])
_INTERCEPT = -2.9
DRIFTS = ("none", "income", "product_mix")
Drift = Literal["none", "income", "product_mix"]


def synthetic_schema() -> FeatureSchema:
    """Declared schema of the synthetic data (true_pd is not a feature)."""
    return FeatureSchema(
        target=Target(name="default", positive=[1], negative=[0]),
        features=[
            Feature(
                name="annual_income",
                type="numeric",
                min=0,
                reason="Annual income",
                monotone="decreasing",
            ),
            Feature(
                name="employment_years",
                type="numeric",
                min=0,
                max=60,
                reason="Years in employment",
                monotone="decreasing",
            ),
            Feature(
                name="credit_history_months",
                type="numeric",
                min=0,
                max=720,
                integer=True,
                reason="Length of credit history",
                monotone="decreasing",
            ),
            Feature(
                name="delinquencies_2y",
                type="numeric",
                min=0,
                max=50,
                integer=True,
                reason="Delinquencies in the last two years",
                monotone="increasing",
            ),
            Feature(name="loan_amount", type="numeric", min=0, reason="Loan amount"),
            Feature(
                name="duration_months",
                type="numeric",
                min=1,
                max=120,
                integer=True,
                reason="Loan duration",
                monotone="increasing",
            ),
            Feature(
                name="debt_to_income",
                type="numeric",
                min=0,
                reason="Debt-to-income ratio",
                monotone="increasing",
            ),
            Feature(
                name="home_ownership", type="categorical", categories=HOME, reason="Home ownership"
            ),
            Feature(
                name="purpose", type="categorical", categories=PURPOSE, reason="Purpose of the loan"
            ),
        ],
        protected=[
            ProtectedAttribute(name="age_band", source="age", bins=[25, 35, 50]),
            ProtectedAttribute(name="sex", source="sex"),
        ],
    )


def true_logit(frame: pd.DataFrame) -> np.ndarray:
    """True log-odds of default of applications (see the module docstring for its terms)."""
    log_income = np.log(frame["annual_income"].to_numpy(dtype=float).clip(1000, None))
    employment = frame["employment_years"].to_numpy(dtype=float)
    history = frame["credit_history_months"].to_numpy(dtype=float)
    delinquencies = frame["delinquencies_2y"].to_numpy(dtype=float)
    dti = frame["debt_to_income"].to_numpy(dtype=float)
    duration = frame["duration_months"].to_numpy(dtype=float)
    log_amount = np.log(frame["loan_amount"].to_numpy(dtype=float).clip(100, None))
    home = pd.Categorical(frame["home_ownership"], categories=HOME).codes
    purpose = pd.Categorical(frame["purpose"], categories=PURPOSE).codes
    poverty = np.maximum(10.4 - log_income, 0.0)  # hinge: below the median income only
    short_history = np.maximum(36.0 - history, 0.0) / 36.0
    return np.asarray(
        _INTERCEPT
        + 1.3 * poverty
        - 0.1 * (log_income - 10.4)
        - 0.9 * (1.0 - np.exp(-employment / 1.5))  # most of the effect in the first years
        - 0.0015 * history
        + 0.9 * np.log1p(delinquencies)  # saturating
        + 0.6 * dti
        + 2.5 * np.maximum(dti - 0.35, 0.0) ** 2 * 4  # convex above 0.35
        + _HOME_RISK[home]
        + _PURPOSE_RISK[purpose]
        # interactions
        + 2.2 * np.maximum(dti - 0.3, 0.0) * poverty
        + 0.8 * np.log1p(delinquencies) * short_history
        + 0.35 * (duration - 6.0) / 12.0 * np.maximum(log_amount - 9.0, 0.0)
    )


def _chunk(rng: np.random.Generator, n: int, drift: Drift, strength: float) -> pd.DataFrame:
    age = np.clip(rng.normal(40, 12, n), 18, 85).round()
    sex = rng.choice(np.array(["female", "male"]), n)
    employment_years = np.clip(rng.gamma(2.0, 3.0, n) * (age - 17) / 25, 0, 60).round(1)
    income = np.exp(rng.normal(10.4 + 0.012 * (age - 40) + 0.02 * employment_years, 0.5, n))
    if drift == "income":
        income = income * (1.0 - strength)
    history = np.clip((age - 18) * 12 * rng.uniform(0.2, 1.0, n), 0, 720).round()
    home = rng.choice(4, n, p=[0.38, 0.22, 0.35, 0.05])
    product = drift == "product_mix"
    purpose = rng.choice(6, n, p=_DRIFTED_MIX if product else _PURPOSE_MIX)
    amount = np.exp(rng.normal(np.log(income * _PURPOSE_AMOUNT[purpose]), 0.55, n))
    amount = np.clip(amount, 500, 500_000).round(-2)
    terms = _LONGER_TERMS if product else _TERM_WEIGHTS
    duration = rng.choice(_TERMS, n, p=terms / terms.sum())
    other_debt = income * rng.beta(2, 6, n)
    dti = np.clip((other_debt + amount / duration * 12) / income, 0, 3).round(3)
    delinquencies = np.minimum(rng.poisson(np.exp(-1.5 + 1.2 * dti), n), 50)
    frame = pd.DataFrame(
        {
            "annual_income": income.round(0),
            "employment_years": employment_years,
            "credit_history_months": history,
            "delinquencies_2y": delinquencies,
            "loan_amount": amount,
            "duration_months": duration,
            "debt_to_income": dti,
            "home_ownership": np.array(HOME)[home],
            "purpose": np.array(PURPOSE)[purpose],
            "age": age.astype("int64"),
            "sex": sex,
        }
    )
    true_pd = 1 / (1 + np.exp(-true_logit(frame)))
    frame["default"] = (rng.uniform(size=n) < true_pd).astype("int64")
    frame["true_pd"] = true_pd
    return frame


def ground_truth_auc(frame: pd.DataFrame) -> float:
    """AUC of the true PD on the drawn labels: the ceiling for any model on these rows."""
    return float(roc_auc_score(frame["default"], frame["true_pd"]))


def generate(
    n_rows: int,
    seed: int = 0,
    chunk_size: int = 250_000,
    *,
    drift: Drift = "none",
    drift_strength: float = 0.2,
) -> pd.DataFrame:
    """``n_rows`` synthetic applications; the same seed (and drift) gives the same rows."""
    if n_rows <= 0:
        raise ValueError(f"n_rows must be positive, got {n_rows}")
    if drift not in DRIFTS:
        raise ValueError(f"drift must be one of {DRIFTS}, got {drift!r}")
    if not 0 <= drift_strength < 1:
        raise ValueError(f"drift_strength must be in [0, 1), got {drift_strength}")
    rng = np.random.default_rng(seed)
    parts = [
        _chunk(rng, min(chunk_size, n_rows - start), drift, drift_strength)
        for start in range(0, n_rows, chunk_size)
    ]
    return pd.concat(parts, ignore_index=True)
