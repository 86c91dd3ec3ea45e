"""The vectorised scoring path gives the API's answers (``CreditModel.score``) row for row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_scoring.scoring.model import CreditModel
from credit_scoring.scoring.scaling import DECISIONS
from credit_scoring.scoring.vectorised import score_matrix

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("kind", ["model", "interaction_model"])
@pytest.mark.parametrize("reasons", [0, 2, 4, 30])
def test_matrix_scores_equal_the_api_path(
    kind: str, reasons: int, request: pytest.FixtureRequest, portfolio: pd.DataFrame
) -> None:
    model: CreditModel = request.getfixturevalue(kind)
    frame = portfolio.head(500).copy()
    frame.loc[frame.index[:40], "employment_years"] = np.nan  # missing values score too
    records = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for r in frame[model.schema.feature_names].to_dict(orient="records")
    ]
    expected = model.score(records, max_reasons=reasons)
    got = score_matrix(model, model.encoder.encode_records(records), reasons)
    np.testing.assert_allclose(got.probability, [r.probability for r in expected], atol=1e-12)
    np.testing.assert_allclose(got.score, [r.score for r in expected], atol=1e-9)
    assert [DECISIONS[d] for d in got.decision] == [r.decision for r in expected]
    names = model.schema.feature_names
    for i, r in enumerate(expected):
        features = [names[j] for j in got.reason_feature[i] if j >= 0]
        assert features == [x.feature for x in r.reasons]
        points = got.reason_points[i][: len(features)]
        np.testing.assert_allclose(points, [x.points for x in r.reasons], atol=1e-9)
    assert got.reason_feature.shape == (len(records), min(reasons, len(names)))


def test_decision_bands_follow_the_scaling_cut_offs(model: CreditModel) -> None:
    x = model.encoder.encode_records(model.input_example * 50)
    s = score_matrix(model, x)
    expected = model.scaling.decisions(s.probability)
    assert [DECISIONS[d] for d in s.decision] == list(expected)
