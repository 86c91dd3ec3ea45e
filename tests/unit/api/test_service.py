"""The scoring service is callable without HTTP and answers exactly what the route sends."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fastapi import HTTPException

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from credit_scoring.api import service
from credit_scoring.api.app import create_app
from credit_scoring.api.responses import InvalidRequest
from credit_scoring.api.schemas import BatchResponse, ScoreResponse, example_application
from credit_scoring.api.state import ApiState
from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.ledger.embedded import EmbeddedLedgerStore
from credit_scoring.predictions.record import APPLICATION_KEY

pytestmark = pytest.mark.unit

KEY = "key-one"

T_MIN, T_MAX = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture
def running(
    settings_factory: Callable[..., Settings], make_source: Callable[..., Any]
) -> Iterator[tuple[TestClient, ApiState]]:
    source = make_source("1")
    app = create_app(settings_factory(), source_factory=lambda: source)
    with TestClient(app) as client:
        deadline = time.monotonic() + 20
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "not ready"
            time.sleep(0.05)
        yield client, app.state.api


def _state(request_id: str) -> dict[str, Any]:
    return {"request_id": request_id, "t0": time.perf_counter()}


def test_score_one_is_the_routes_answer(
    running: tuple[TestClient, ApiState], schema: FeatureSchema
) -> None:
    client, api = running
    body = orjson.dumps(example_application(schema))
    state = _state("svc-1")
    scored = service.score_one(api, KEY, b"max_reasons=2", body, state)
    assert scored.version == state["model_version"] == "1"
    assert scored.records == [example_application(schema)]
    resp = client.post(
        "/v1/score?max_reasons=2",
        content=body,
        headers={"X-API-Key": KEY, "X-Request-ID": "svc-1", "content-type": "application/json"},
    )
    assert resp.content == scored.body()
    assert 1 <= len(ScoreResponse.model_validate_json(scored.body()).reasons) <= 2


def test_score_batch_is_the_routes_answer(
    running: tuple[TestClient, ApiState], schema: FeatureSchema
) -> None:
    client, api = running
    body = orjson.dumps({"applications": [example_application(schema)] * 3})
    scored = asyncio.run(service.score_batch(api, KEY, b"", body, _state("svc-b")))
    resp = client.post(
        "/v1/score/batch",
        content=body,
        headers={"X-API-Key": KEY, "X-Request-ID": "svc-b", "content-type": "application/json"},
    )
    assert resp.content == scored.batch_body()
    assert BatchResponse.model_validate_json(scored.batch_body()).count == 3


def test_errors_are_raised_for_the_exception_handlers(
    running: tuple[TestClient, ApiState], schema: FeatureSchema
) -> None:
    _, api = running
    good = example_application(schema)
    with pytest.raises(HTTPException) as denied:
        service.score_one(api, "wrong", b"", orjson.dumps(good), _state("x"))
    assert denied.value.status_code == 401
    with pytest.raises(InvalidRequest) as invalid:
        service.score_one(
            api, KEY, b"max_reasons=x", orjson.dumps({**good, "purpose": "yacht"}), _state("y")
        )
    assert [e["loc"] for e in invalid.value.errors] == [
        ["query", "max_reasons"],
        ["body", "purpose"],
    ]


def test_scored_applications_are_recorded(
    settings_factory: Callable[..., Settings],
    make_source: Callable[..., Any],
    schema: FeatureSchema,
) -> None:
    settings = settings_factory()
    source = make_source("1")
    app = create_app(settings, source_factory=lambda: source)
    with TestClient(app) as client:
        deadline = time.monotonic() + 20
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "not ready"
            time.sleep(0.05)
        api: ApiState = app.state.api
        body = orjson.dumps({"applications": [example_application(schema)] * 2})
        asyncio.run(service.score_batch(api, KEY, b"", body, _state("logged")))
    store = EmbeddedLedgerStore(settings.ledger_path)
    ids = sorted(e.decision_id for e in store.entries(T_MIN, T_MAX))
    store.close()
    assert ids == ["logged-0", "logged-1"]


def test_as_record_is_model_dump(schema: FeatureSchema) -> None:
    from credit_scoring.api.schemas import build_application_model

    model = build_application_model(schema)
    app = model.model_validate({**example_application(schema), "purpose": "car (new)"})
    features = app.model_dump(exclude={APPLICATION_KEY})
    assert service.as_record(app) == (features, None)
    assert list(service.as_record(app)[0]) == list(features)
    keyed = model.model_validate({**example_application(schema), APPLICATION_KEY: "app-9"})
    assert service.as_record(keyed) == (keyed.model_dump(exclude={APPLICATION_KEY}), "app-9")


def test_application_keys_are_recorded_echoed_and_validated(
    settings_factory: Callable[..., Settings],
    make_source: Callable[..., Any],
    schema: FeatureSchema,
) -> None:
    """``application_key`` goes to the ledger (not into the inputs) and back in the answer; the
    same key scored twice is two decisions, which the migration reader pairs by key."""
    from credit_scoring.monitoring.backtest import migration_between
    from credit_scoring.monitoring.prediction_log import read_prediction_log
    from credit_scoring.scoring.grades import MasterScale

    settings = settings_factory()
    source = make_source("1")
    app = create_app(settings, source_factory=lambda: source)
    good = example_application(schema)
    riskier = {**good, "credit_history": schema.feature("credit_history").categories[-1]}
    headers = {"X-API-Key": KEY, "content-type": "application/json"}
    with TestClient(app) as client:
        deadline = time.monotonic() + 20
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "not ready"
            time.sleep(0.05)
        one = client.post(
            "/v1/score",
            json={**good, APPLICATION_KEY: "app-1"},
            headers={**headers, "X-Request-ID": "k-1"},
        )
        assert one.status_code == 200 and one.json()[APPLICATION_KEY] == "app-1"
        batch = client.post(
            "/v1/score/batch",
            json={"applications": [{**riskier, APPLICATION_KEY: "app-1"}, good]},
            headers={**headers, "X-Request-ID": "k-b"},
        )
        items = batch.json()["results"]
        assert items[0][APPLICATION_KEY] == "app-1" and APPLICATION_KEY not in items[1]
        for bad, msg in (("", "at least 1"), ("x" * 129, "at most 128")):
            refused = client.post("/v1/score", json={**good, APPLICATION_KEY: bad}, headers=headers)
            assert refused.status_code == 422
            (err,) = refused.json()["detail"]
            assert err["loc"] == ["body", APPLICATION_KEY] and msg in err["msg"]
        # Shipped to the ledger before the test reads it (the shipper drains on shutdown).
    store = EmbeddedLedgerStore(settings.ledger_path)
    bodies = {e.decision_id: e.body for e in store.entries(T_MIN, T_MAX)}
    store.close()
    assert {d: b.get(APPLICATION_KEY) for d, b in bodies.items()} == {
        "k-1": "app-1",
        "k-b-0": "app-1",
        "k-b-1": None,
    }
    assert all(APPLICATION_KEY not in b["inputs"] for b in bodies.values())
    frame = read_prediction_log(settings, T_MIN, T_MAX)
    assert sorted(frame[APPLICATION_KEY].dropna()) == ["app-1", "app-1"]
    today = datetime.now(UTC).date()
    m = migration_between(settings, MasterScale(), today, today)
    assert (m.n, m.without_key) == (1, 1)  # app-1 (its latest score), k-b-1 has no key
