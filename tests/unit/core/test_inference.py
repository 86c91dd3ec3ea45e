"""Schema inference that protects: protected attributes, ids, dates, constants and leaks are set
aside and reported; an explicit opt-in keeps a column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_scoring.data.inference import infer, protected_kind, screen_columns
from credit_scoring.data.io import load_german_credit
from credit_scoring.data.synthetic import generate

pytestmark = pytest.mark.unit


def _frame(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n) + 1000,
            "applied_on": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "income": rng.normal(50_000, 10_000, n).round(),
            "Geschlecht": rng.choice(["m", "w"], n),
            "estado_civil": rng.choice(["casado", "soltero"], n),
            "ethnicity": rng.choice(["a", "b", "c"], n),
            "applicant_kind": rng.choice(["male", "female"], n),  # protected by its values
            "country": "DE",
            "default_flag_copy": y,
            "score_pd": y * 0.5 + rng.uniform(0, 0.1, n),
            "oracle": y + rng.normal(0, 0.05, n),
            "purpose": rng.choice(["car", "home"], n),
            "default": y,
        }
    )


def test_every_kind_is_found_and_excluded() -> None:
    result = infer(_frame(), "default")
    kinds = {f.column: f.kind for f in result.findings}
    assert kinds == {
        "customer_id": "id",
        "applied_on": "date",
        "Geschlecht": "protected",
        "estado_civil": "protected",
        "ethnicity": "protected",
        "applicant_kind": "protected",
        "country": "constant",
        "score_pd": "leak",
        "oracle": "leak",
        "default_flag_copy": "leak",
    }
    assert result.schema.feature_names == ["income", "purpose"]
    assert {p.source for p in result.schema.protected} >= {
        "Geschlecht",
        "ethnicity",
        "applicant_kind",
    }
    assert result.schema.date_column == "applied_on"
    notice = result.notice()
    assert "Geschlecht" in notice and "--use-column" in notice


def test_opt_in_keeps_a_protected_column_as_feature_and_still_measures_it() -> None:
    result = infer(_frame(), "default", use=["Geschlecht"])
    assert "Geschlecht" in result.schema.feature_names
    assert "Geschlecht" in {p.source for p in result.schema.protected}
    assert any(f.column == "Geschlecht" and f.used for f in result.findings)


def test_opt_in_of_unknown_column_names_it() -> None:
    with pytest.raises(ValueError, match="nope"):
        infer(_frame(), "default", use=["nope"])


def test_german_credit_and_generated_data_never_use_protected_attributes() -> None:
    german = infer(load_german_credit(), "creditability").schema
    assert {"age_in_years", "personal_status_and_sex", "foreign_worker"}.isdisjoint(
        german.feature_names
    )
    assert {p.source for p in german.protected} == {
        "age_in_years",
        "personal_status_and_sex",
        "foreign_worker",
    }
    age = next(p for p in german.protected if p.source == "age_in_years")
    assert age.bins  # banded for fairness tables
    synthetic = infer(generate(2000, seed=3), "default").schema
    assert {"age", "sex", "true_pd"}.isdisjoint(synthetic.feature_names)


@pytest.mark.parametrize(
    ("name", "values", "kind"),
    [
        ("Age", [30, 40], "age"),
        ("sexe", ["h", "f"], "sex"),
        ("Familienstand", ["a", "b"], "marital status"),
        ("foreign_worker", ["yes", "no"], "nationality"),
        ("religion", ["x"], "religion"),
        ("has_disability", [0, 1], "disability"),
        ("colour_of_car", ["red"], None),
        ("loan_amount", [1, 2], None),
    ],
)
def test_protected_kind(name: str, values: list[object], kind: str | None) -> None:
    assert protected_kind(name, pd.Series(values)) == kind


def test_screening_without_target_does_not_judge_leaks() -> None:
    findings = screen_columns(_frame(), "default")
    assert "oracle" not in {f.column for f in findings}
