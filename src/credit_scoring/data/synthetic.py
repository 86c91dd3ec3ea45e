"""Seeded synthetic credit applications of any size, with a known true probability of default.

The generator draws correlated applicant attributes (age, income, employment, credit history,
delinquencies, loan amount and duration, home ownership, purpose) and sets the true PD with a
logistic model whose coefficients are fixed below, so a model's estimates can be compared with the
truth. Columns: the features of :func:`synthetic_schema`, ``default`` (0/1), ``true_pd``, plus
``age`` and ``sex`` as protected-attribute sources. Chunked so that millions of rows fit easily.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_scoring.data.schema import Feature, FeatureSchema, ProtectedAttribute, Target

HOME = ["rent", "own", "mortgage", "other"]
PURPOSE = ["car", "home_improvement", "debt_consolidation", "education", "business", "other"]
_HOME_RISK = np.array([0.25, -0.20, -0.10, 0.35])
_PURPOSE_RISK = np.array([-0.10, -0.15, 0.20, 0.10, 0.40, 0.05])
_INTERCEPT = -2.3


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


def _chunk(rng: np.random.Generator, n: int) -> pd.DataFrame:
    age = np.clip(rng.normal(40, 12, n), 18, 85).round()
    sex = rng.choice(np.array(["female", "male"]), n)
    employment_years = np.clip(rng.gamma(2.0, 3.0, n) * (age - 17) / 25, 0, 60).round(1)
    income = np.exp(rng.normal(10.4 + 0.012 * (age - 40) + 0.02 * employment_years, 0.45, n))
    history = np.clip((age - 18) * 12 * rng.uniform(0.2, 1.0, n), 0, 720).round()
    home = rng.choice(4, n, p=[0.38, 0.22, 0.35, 0.05])
    purpose = rng.choice(6, n, p=[0.22, 0.15, 0.30, 0.08, 0.10, 0.15])
    amount = np.clip(np.exp(rng.normal(np.log(income) - 1.2, 0.6, n)), 500, 500_000).round(-1)
    duration = rng.choice(np.array([6, 12, 18, 24, 36, 48, 60, 72]), n)
    other_debt = income * rng.beta(2, 6, n)
    dti = np.clip((other_debt + amount / duration * 12) / income, 0, 3).round(3)
    delinquencies = np.minimum(rng.poisson(np.exp(-1.3 + 1.2 * dti), n), 50)
    logit = (
        _INTERCEPT
        - 0.55 * (np.log(income) - 10.4)
        - 0.04 * employment_years
        - 0.002 * history
        + 0.45 * delinquencies
        + 1.1 * (dti - 0.4)
        + 0.012 * (duration - 24)
        + _HOME_RISK[home]
        + _PURPOSE_RISK[purpose]
    )
    true_pd = 1 / (1 + np.exp(-logit))
    default = (rng.uniform(size=n) < true_pd).astype("int64")
    return pd.DataFrame(
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
            "default": default,
            "true_pd": true_pd,
        }
    )


def generate(n_rows: int, seed: int = 0, chunk_size: int = 250_000) -> pd.DataFrame:
    """``n_rows`` synthetic applications; the same seed gives the same rows."""
    if n_rows <= 0:
        raise ValueError(f"n_rows must be positive, got {n_rows}")
    rng = np.random.default_rng(seed)
    parts = [_chunk(rng, min(chunk_size, n_rows - start)) for start in range(0, n_rows, chunk_size)]
    return pd.concat(parts, ignore_index=True)
