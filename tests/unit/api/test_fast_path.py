"""The single-application fast path answers exactly as the general path does.

One applicant is scored with the single-row path (lookup tables or LightGBM's single-row fast
config) and ``POST /v1/score`` is a plain ASGI endpoint behind the router; both must be invisible
to callers, also behind a path prefix (``root_path``).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from credit_scoring.api.app import create_app
from credit_scoring.api.schemas import example_application
from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.scoring.model import CreditModel, ScoreResult

pytestmark = pytest.mark.unit

KEY = {"X-API-Key": "key-one"}


def _records(frame: pd.DataFrame, schema: FeatureSchema, n: int) -> list[dict[str, Any]]:
    rows = frame[schema.feature_names].head(n).to_dict(orient="records")
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in rows]


@pytest.fixture(params=["additive", "interactions"])
def any_model(
    request: pytest.FixtureRequest,
    tiny_model: CreditModel,
    tiny_interaction_model: CreditModel,
) -> CreditModel:
    """Both scoring paths: lookup tables (additive) and LightGBM TreeSHAP (interactions)."""
    model = tiny_model if request.param == "additive" else tiny_interaction_model
    assert (model.tables is not None) == (request.param == "additive")
    return model


def _same(a: ScoreResult, b: ScoreResult) -> bool:
    """Equal up to the last bits of float rounding (Python floats vs numpy on one side)."""
    close = partial(math.isclose, rel_tol=1e-12, abs_tol=1e-12)
    return (
        close(a.probability, b.probability)
        and close(a.score, b.score)
        and a.decision == b.decision
        and [(r.feature, r.value, r.reason) for r in a.reasons]
        == [(r.feature, r.value, r.reason) for r in b.reasons]
        and all(
            close(x.contribution, y.contribution) and close(x.points, y.points)
            for x, y in zip(a.reasons, b.reasons, strict=True)
        )
    )


def test_single_row_scores_equal_the_batch_path(
    any_model: CreditModel, german: pd.DataFrame, schema: FeatureSchema
) -> None:
    records = _records(german, schema, 300)
    records[0] = {**records[0], "purpose": None, "duration_in_month": None}  # missing values
    for limit in (4, 0, 50):
        batch = any_model.score(records, max_reasons=limit)  # vectorised path
        singles = [any_model.score([r], max_reasons=limit)[0] for r in records]  # one-row path
        mismatched = [
            i for i, (a, b) in enumerate(zip(singles, batch, strict=True)) if not _same(a, b)
        ]
        assert not mismatched, (limit, mismatched[:3], singles[mismatched[0]], batch[mismatched[0]])
    assert any(r.reasons for r in batch)


def test_single_row_reasons_equal_booster_contributions(
    any_model: CreditModel, german: pd.DataFrame, schema: FeatureSchema
) -> None:
    """Reason codes of one applicant are LightGBM's own SHAP contributions, largest first."""
    records = _records(german, schema, 50)
    x = any_model.encoder.encode_records(records)
    expected = any_model.booster.predict(x, pred_contrib=True, num_threads=1)
    names = any_model.encoder.names
    for record, contrib in zip(records, expected, strict=True):
        (res,) = any_model.score([record], max_reasons=50)
        adverse = {n: c for n, c in zip(names, contrib[:-1], strict=True) if c > 0}
        assert {r.feature for r in res.reasons} == set(adverse)
        for reason in res.reasons:
            assert math.isclose(reason.contribution, adverse[reason.feature], rel_tol=1e-9)
        got = [r.contribution for r in res.reasons]
        assert got == sorted(got, reverse=True)


@pytest.fixture
def client(
    settings_factory: Callable[..., Settings], make_source: Callable[..., Any]
) -> Iterator[TestClient]:
    source = make_source("1")
    with TestClient(create_app(settings_factory(), source_factory=lambda: source)) as c:
        deadline = time.monotonic() + 20
        while c.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        yield c


def _answers(client: TestClient, prefix: str, cases: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    got = []
    for i, (url, kwargs) in enumerate(cases):
        headers = {**kwargs.get("headers", {}), "X-Request-ID": f"case-{i}"}
        resp = client.post(
            prefix + url, headers=headers, **{k: v for k, v in kwargs.items() if k != "headers"}
        )
        got.append((resp.status_code, resp.content, sorted(resp.headers.items())))
    return got


def test_scoring_route_answers_the_same_behind_a_path_prefix(
    client: TestClient,
    schema: FeatureSchema,
    settings_factory: Callable[..., Settings],
    make_source: Callable[..., Any],
) -> None:
    """``POST /v1/score`` is an ordinary route: matched by the router (metrics label, 405 for
    other methods), errors through the exception handlers, and ``root_path`` honoured."""
    good = example_application(schema)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("/v1/score", {"json": good, "headers": KEY}),
        ("/v1/score?max_reasons=1", {"json": good, "headers": KEY}),
        ("/v1/score?max_reasons=99", {"json": {**good, "purpose": "yacht"}, "headers": KEY}),
        ("/v1/score", {"json": {**good, "extra": 1}, "headers": KEY}),
        ("/v1/score", {"content": b"{nope", "headers": {**KEY, "content-type": _JSON}}),
        ("/v1/score", {"json": good, "headers": {"X-API-Key": "wrong"}}),
        ("/v1/score", {"json": good}),
        ("/v1/score", {"content": b"x" * 5000, "headers": {**KEY, "content-type": _JSON}}),
    ]
    direct = _answers(client, "", cases)
    assert [a[0] for a in direct] == [200, 200, 422, 422, 422, 401, 401, 413]
    source = make_source("1")
    app = create_app(settings_factory(), source_factory=lambda: source)
    with TestClient(app, root_path="/scoring") as prefixed:
        deadline = time.monotonic() + 20
        while prefixed.get("/scoring/readyz").status_code != 200:
            assert time.monotonic() < deadline, "not ready"
            time.sleep(0.05)
        assert _answers(prefixed, "/scoring", cases) == direct
        text = prefixed.get("/scoring/metrics").text
    # Counted under the route's label, prefix or not.
    for metrics in (text, client.get("/metrics").text):
        assert (
            'credit_scoring_http_requests_total{method="POST",route="/v1/score",status="200"} 2.0'
            in metrics
        )
        assert (
            'credit_scoring_http_requests_total{method="POST",route="/v1/score",status="422"} 3.0'
            in metrics
        )
    # Other methods on the path: the router's 405.
    assert client.get("/v1/score", headers=KEY).status_code == 405


_JSON = "application/json"
