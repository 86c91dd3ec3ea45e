"""Behavioural checks of a model trained by the real pipeline on the bundled German Credit data.

AUC is checked against a range: published results on this dataset sit around 0.75-0.80, so an
AUC far above 0.82 would mean a leak (target or protected attributes in the features).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from credit_scoring.config import Settings
from credit_scoring.scoring.model import CreditModel, load_credit_model
from credit_scoring.training.pipeline import TrainResult, train

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TrainResult, CreditModel]]:
    import mlflow

    home = tmp_path_factory.mktemp("model-home")
    settings = Settings(home=home, tracking_uri=None, cv_repeats=1, cv_folds=5)
    result = train(settings=settings)
    model = load_credit_model(f"models:/credit-scoring/{result.version}", home / "dl")
    yield result, model
    mlflow.set_tracking_uri(None)


@pytest.fixture(autouse=True)
def keep_store(trained: tuple[TrainResult, CreditModel]) -> None:
    """The module-scoped store outlives the per-test isolation fixture."""


def applicant(model: CreditModel, **overrides: object) -> dict[str, object]:
    base = dict(model.input_example[0])
    base.update(overrides)
    return base


def test_auc_in_expected_range_no_leak(trained: tuple[TrainResult, CreditModel]) -> None:
    result, _ = trained
    assert 0.70 <= result.metrics["test_auc"] <= 0.82
    assert 0.68 <= result.metrics["cv_auc_mean"] <= 0.82
    assert result.metrics["test_ece"] < 0.12


def test_monotone_in_duration_and_amount(trained: tuple[TrainResult, CreditModel]) -> None:
    _, model = trained
    for feature, values in {
        "duration_in_month": [6, 12, 24, 36, 48, 72],
        "credit_amount": [500, 2000, 5000, 10000, 18000],
    }.items():
        pds = model.predict_proba([applicant(model, **{feature: v}) for v in values])
        assert np.all(np.diff(pds) >= -1e-12), f"{feature}: PD not non-decreasing {pds}"


def test_checking_account_direction(trained: tuple[TrainResult, CreditModel]) -> None:
    _, model = trained
    overdrawn, none = model.predict_proba(
        [
            applicant(model, status_of_existing_checking_account="... < 0 DM"),
            applicant(model, status_of_existing_checking_account="no checking account"),
        ]
    )
    assert overdrawn > none


def test_reason_codes_explain_the_score(trained: tuple[TrainResult, CreditModel]) -> None:
    _, model = trained
    risky = applicant(
        model,
        duration_in_month=72,
        credit_amount=18000,
        status_of_existing_checking_account="... < 0 DM",
    )
    (result,) = model.score([risky], max_reasons=4)
    assert 1 <= len(result.reasons) <= 4
    assert all(r.contribution > 0 and r.points < 0 for r in result.reasons)
    contributions = [r.contribution for r in result.reasons]
    assert contributions == sorted(contributions, reverse=True)
    assert "status_of_existing_checking_account" in {r.feature for r in result.reasons}
    # score points and decision follow the stored scaling exactly
    assert result.score == pytest.approx(float(model.scaling.points(result.probability)))
    assert result.decision == model.scaling.decision(result.probability)


def test_missing_optional_and_unseen_values_still_score(
    trained: tuple[TrainResult, CreditModel],
) -> None:
    """Missing values (``None`` or an absent field, numeric and categorical) and an unseen
    category score like LightGBM's missing branch: a valid PD, score and decision."""
    _, model = trained
    absent = applicant(model)
    del absent["credit_amount"]
    cases = [
        applicant(model, duration_in_month=None, purpose=None),
        applicant(model, credit_amount=None),
        absent,
        applicant(model, purpose="spaceship"),
    ]
    results = model.score(cases, max_reasons=4)
    for res in results:
        assert 0 < res.probability < 1
        assert res.score == pytest.approx(float(model.scaling.points(res.probability)))
        assert res.decision == model.scaling.decision(res.probability)
    # An absent field is a missing one; and each case agrees with the one-row path.
    assert results[2].probability == pytest.approx(results[1].probability, abs=1e-12)
    for case, res in zip(cases, results, strict=True):
        assert model.score([case])[0].probability == pytest.approx(res.probability, abs=1e-12)
    # None is not silently replaced by the applicant's value: the PD moves.
    assert results[0].probability != pytest.approx(model.score([applicant(model)])[0].probability)


def test_model_dir_round_trip(trained: tuple[TrainResult, CreditModel], tmp_path: Path) -> None:
    _, model = trained
    model.save_artifacts(tmp_path / "artifacts")
    again = CreditModel.from_dir(tmp_path)
    rows = model.input_example
    np.testing.assert_allclose(again.predict_proba(rows), model.predict_proba(rows))


def test_additive_model_points_depend_on_each_feature_alone(
    trained: tuple[TrainResult, CreditModel],
) -> None:
    """The default model is additive: changing one field moves only that field's reason points,
    and the served lookup tables reproduce LightGBM's own contributions on the whole dataset."""
    from credit_scoring.data.io import load_german_credit

    _, model = trained
    assert model.tables is not None, "the pipeline's default model should be additive"
    x = model.encoder.encode_frame(load_german_credit())
    expected = model.booster.predict(x, pred_contrib=True)
    np.testing.assert_allclose(model.tables.contrib_matrix(x), expected, rtol=0, atol=1e-9)

    base = applicant(model)
    j = model.encoder.names.index("duration_in_month")
    row_a = model.encoder.encode_row(applicant(model, duration_in_month=6))
    row_b = model.encoder.encode_row(applicant(model, duration_in_month=60))
    a, b = model.tables.row(row_a), model.tables.row(row_b)
    assert a[j] < b[j]
    assert [c for i, c in enumerate(a) if i != j] == [c for i, c in enumerate(b) if i != j]
    assert model.score([base])[0].probability == pytest.approx(model.predict_proba([base])[0])
