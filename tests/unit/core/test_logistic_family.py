"""The logistic regression family: fitted with the schema's monotone directions, compiled into an
exact additive booster with linear leaves, served from lookup tables (never from LightGBM's
``pred_contrib``, which ignores linear leaves)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from credit_scoring.data.schema import FeatureSchema
from credit_scoring.scoring.additive import AdditiveTables
from credit_scoring.scoring.calibration import Calibration
from credit_scoring.scoring.explain import breakdown
from credit_scoring.scoring.model import CreditModel, ModelLoadError
from credit_scoring.scoring.reason_text import side_of
from credit_scoring.scoring.scaling import ScoreScaling
from credit_scoring.scoring.vectorised import score_matrix
from credit_scoring.training.candidates import TrainingData, fit_family
from credit_scoring.training.logistic import compile_logistic, fit_logistic

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def served(german: TrainingData) -> CreditModel:
    fitted = fit_family("logistic", german, np.arange(700))
    assert fitted.logistic is not None
    booster = compile_logistic(fitted.logistic, german.schema, german.encoder, german.x[:700])
    example = german.frame.iloc[:2].to_dict(orient="records")
    return CreditModel(booster, german.schema, ScoreScaling(), Calibration(), example)


def test_without_monotone_directions_it_is_plain_logistic_regression(
    german: TrainingData,
) -> None:
    numeric = [f.name for f in german.schema.numeric]
    plain = FeatureSchema.model_validate(
        {
            **german.schema.model_dump(mode="json", exclude_none=True),
            "features": [
                {
                    k: v
                    for k, v in f.model_dump(mode="json", exclude_none=True).items()
                    if k != "monotone"
                }
                for f in german.schema.features
            ],
        }
    )
    x, y = german.x[:700], german.y[:700]
    ours = fit_logistic(plain, x, y).predict(german.x[700:])
    # the same design through scikit-learn (no missing values in German Credit: indicators idle)
    cols = []
    for j, f in enumerate(plain.features):
        if f.type == "categorical":
            cols.append(np.eye(len(f.categories or []))[german.x[:, j].astype(int)])
        else:
            col = german.x[:, j]
            cols.append(((col - col[:700].mean()) / col[:700].std())[:, None])
    z = np.hstack(cols)
    reference = LogisticRegression(max_iter=10_000, tol=1e-10).fit(z[:700], y)
    np.testing.assert_allclose(ours, reference.predict_proba(z[700:])[:, 1], atol=1e-4)
    assert numeric  # the comparison exercised numeric terms


def test_declared_monotone_directions_bound_the_coefficients(german: TrainingData) -> None:
    model = fit_logistic(german.schema, german.x[:700], german.y[:700])
    for feature, term in zip(german.schema.features, model.terms, strict=True):
        if feature.monotone == "increasing":
            assert term.coef >= 0, feature.name
        if feature.monotone == "decreasing":
            assert term.coef <= 0, feature.name


def test_compiles_to_exact_linear_tables(german: TrainingData, served: CreditModel) -> None:
    fitted = fit_family("logistic", german, np.arange(700))
    assert fitted.logistic is not None
    unseen = german.x[700:]
    expected = fitted.logistic.predict(unseen)
    assert isinstance(served.tables, AdditiveTables)
    assert any(t.slopes for t in served.tables.tables)  # numeric terms are linear, not steps
    np.testing.assert_allclose(served.predict_proba_matrix(unseen), expected, atol=1e-12)
    np.testing.assert_allclose(
        served.tables.contrib_matrix(unseen).sum(axis=1),
        served.margin(unseen),
        atol=1e-9,
    )
    # beyond the training range, missing numbers and unseen categories: the model's own terms
    odd = german.frame.iloc[[700]].copy()
    odd["purpose"] = "spaceship"
    odd["credit_amount"] = np.nan
    odd["duration_in_month"] = 1000
    x = german.encoder.encode_frame(odd)
    assert served.predict_proba(odd.to_dict(orient="records"))[0] == pytest.approx(
        float(fitted.logistic.predict(x)[0]), abs=1e-12
    )
    # the terms are centred on the training rows: the average applicant's contributions are 0
    mean_contrib = served.tables.contrib_matrix(german.x[:700])[:, :-1].mean(axis=0)
    np.testing.assert_allclose(mean_contrib, 0.0, atol=1e-9)


def test_one_row_batch_and_breakdown_agree(german: TrainingData, served: CreditModel) -> None:
    records = german.frame.iloc[700:760].to_dict(orient="records")
    batch = served.score(records, max_reasons=4)
    for record, many in zip(records, batch, strict=True):
        (one,) = served.score([record], max_reasons=4)
        assert one.probability == pytest.approx(many.probability, abs=1e-12)
        assert [r.feature for r in one.reasons] == [r.feature for r in many.reasons]
        parts = breakdown(served, record)
        assert parts.total == pytest.approx(one.score, abs=1e-9)
    scores = score_matrix(served, german.x[700:760], max_reasons=4)
    np.testing.assert_allclose(scores.probability, [b.probability for b in batch], atol=1e-12)
    # an amount that raised the risk is called "too high" (the slope's sign), as declared
    j = german.encoder.names.index("credit_amount")
    table = served.tables.tables[j]  # type: ignore[union-attr]
    assert table.slopes is not None and table.slopes[0] > 0
    assert side_of(german.schema.features[j], 20_000.0, table) == "high"


def test_linear_booster_without_exact_tables_is_refused(served: CreditModel) -> None:
    # a linear leaf in a tree that splits on another feature: not additive, and pred_contrib
    # would silently ignore the linear part
    lines = served.booster.model_to_string().splitlines(keepends=True)
    text = "".join(line for line in lines if not line.startswith("tree_sizes="))
    start = text.index("Tree=1\n")
    end = text.index("\n\n", start)
    wrong = (
        "Tree=1\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nsplit_gain=0\nthreshold=10\n"
        "decision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=0 0\nleaf_weight=1 1\n"
        "leaf_count=1 1\ninternal_value=0\ninternal_weight=2\ninternal_count=2\nis_linear=1\n"
        "leaf_const=0 0\nnum_features=1 0\nleaf_features=1  \nleaf_coeff=0.5  \nshrinkage=1"
    )
    booster = lgb.Booster(model_str=text[:start] + wrong + text[end:])
    with pytest.raises(ModelLoadError, match="linear leaves"):
        CreditModel(booster, served.schema, ScoreScaling(), Calibration(), [])


def test_counterfactuals_move_linear_terms_toward_lower_risk(
    german: TrainingData, served: CreditModel
) -> None:
    from credit_scoring.scoring.counterfactual import counterfactuals

    records = german.frame.iloc[700:].to_dict(orient="records")
    results = served.score(records, max_reasons=0)
    declined = [r for r, s in zip(records, results, strict=True) if s.decision != "approve"]
    assert declined
    amount = german.schema.features[german.encoder.names.index("credit_amount")]
    moved = 0
    for record in declined[:15]:
        cf = counterfactuals(served, record)
        assert cf.available and not cf.exact  # linear terms: a ladder, near-minimal
        for suggestion in cf.suggestions:
            assert suggestion.decision == suggestion.target or suggestion.decision == "approve"
            for change in suggestion.changes:
                if change.feature == amount.name:
                    moved += 1
                    assert change.suggested < change.current  # increasing risk: go lower
    assert moved
