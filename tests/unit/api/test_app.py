"""The app end to end in-process: scoring, errors, auth, readiness, reload, metrics, logs."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient; httpx (a runtime dependency) still works.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from credit_scoring.api import webhook
from credit_scoring.api.app import create_app
from credit_scoring.api.logs import JsonFormatter
from credit_scoring.api.schemas import (
    BatchResponse,
    ModelInfo,
    ReloadResponse,
    ScoreResponse,
    StatusOut,
    example_application,
)
from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema

pytestmark = pytest.mark.unit

KEY = {"X-API-Key": "key-two"}
ADMIN = {"X-API-Key": "admin-key"}


def _wait_ready(client: TestClient, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError("API not ready: " + client.get("/readyz").text)


@pytest.fixture
def source(make_source: Callable[..., Any]) -> Any:
    return make_source("1")


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(reload_interval_s=60, max_body_bytes=20_000)


@pytest.fixture
def client(settings: Settings, source: Any) -> Iterator[TestClient]:
    app = create_app(settings, source_factory=lambda: source)
    with TestClient(app) as c:
        _wait_ready(c)
        yield c


def test_request_ids_are_uuid7_and_grow_with_time(
    client: TestClient, schema: FeatureSchema
) -> None:
    """Without X-Request-ID the API gives the request (and so its decision) a UUID version 7:
    later requests sort after earlier ones (the ledger's indexes append at their right edge),
    and ids are unique."""
    payload = example_application(schema)
    ids = []
    for _ in range(3):
        resp = client.post("/v1/score", json=payload, headers=KEY)
        assert resp.status_code == 200, resp.text
        ids.append(resp.json()["request_id"])
        now_ms = time.time_ns() // 1_000_000
        while time.time_ns() // 1_000_000 == now_ms:  # the next id is of a later millisecond
            pass
    assert [uuid.UUID(i).version for i in ids] == [7, 7, 7]
    assert all(len(i) == 32 for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 3
    millis = int(ids[0][:12], 16)
    assert abs(millis / 1000 - time.time()) < 60


def test_score_one(client: TestClient, schema: FeatureSchema) -> None:
    payload = example_application(schema)
    resp = client.post("/v1/score", json=payload, headers={**KEY, "X-Request-ID": "abc-123"})
    assert resp.status_code == 200, resp.text
    body = ScoreResponse.model_validate_json(resp.content)
    assert body.request_id == "abc-123" == resp.headers["x-request-id"]
    assert (body.model_name, body.model_version) == ("credit-scoring", "1")
    assert resp.headers["x-model-version"] == "1"
    assert 0 < body.probability < 1
    assert body.decision in {"approve", "review", "decline"}
    # The example applicant has adverse features: up to 4 reasons, strongest first.
    assert 1 <= len(body.reasons) <= 4
    contributions = [r.contribution for r in body.reasons]
    assert contributions == sorted(contributions, reverse=True)
    assert len({r.feature for r in body.reasons}) == len(body.reasons)
    for reason in body.reasons:
        assert reason.contribution > 0 and reason.points < 0
        assert reason.feature in schema.feature_names
        assert reason.value == payload[reason.feature]
        assert reason.reason
    capped = ScoreResponse.model_validate_json(
        client.post("/v1/score?max_reasons=1", json=payload, headers=KEY).content
    )
    assert capped.reasons == body.reasons[:1]
    assert capped.probability == body.probability


def test_batch_matches_single_scores(
    client: TestClient, german: Any, schema: FeatureSchema
) -> None:
    rows = german[schema.feature_names].head(5).to_dict(orient="records")
    resp = client.post("/v1/score/batch", json={"applications": rows}, headers=KEY)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["count"] == 5 and [r["index"] for r in body["results"]] == list(range(5))
    for row, item in zip(rows, body["results"], strict=True):
        single = client.post("/v1/score", json=row, headers=KEY).json()
        assert single["probability"] == pytest.approx(item["probability"], abs=1e-12)
        assert single["decision"] == item["decision"]


def test_validation_errors_are_422_naming_fields(client: TestClient, schema: FeatureSchema) -> None:
    payload = {**example_application(schema), "purpose": "yacht", "shoe_size": 44}
    resp = client.post("/v1/score", json=payload, headers=KEY)
    assert resp.status_code == 422
    locs = {tuple(e["loc"]) for e in resp.json()["detail"]}
    assert locs == {("body", "purpose"), ("body", "shoe_size")}
    too_many = {"applications": [example_application(schema)] * 6}
    resp = client.post("/v1/score/batch", json=too_many, headers=KEY)
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "applications"]
    resp = client.post(
        "/v1/score", content=b"{not json", headers={**KEY, "content-type": "application/json"}
    )
    assert resp.status_code == 422


def test_body_size_limit(client: TestClient) -> None:
    resp = client.post(
        "/v1/score", content=b"x" * 25_000, headers={**KEY, "content-type": "application/json"}
    )
    assert resp.status_code == 413
    assert "20000 bytes" in resp.json()["detail"]


def test_auth(client: TestClient, schema: FeatureSchema) -> None:
    payload = example_application(schema)
    assert client.post("/v1/score", json=payload).status_code == 401
    assert client.post("/v1/score", json=payload, headers={"X-API-Key": "nope"}).status_code == 401
    assert client.get("/v1/model").status_code == 401
    assert client.post("/v1/admin/reload", headers=KEY).status_code == 401
    assert client.post("/v1/admin/reload", headers=ADMIN).status_code == 200
    # probes and metrics are open
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_no_key_configured_refuses_to_start(settings_factory: Callable[..., Settings]) -> None:
    with pytest.raises(RuntimeError, match="no API key configured"):
        create_app(settings_factory(api_keys=None))


def test_model_info(client: TestClient) -> None:
    info = client.get("/v1/model", headers=KEY).json()
    assert info["name"] == "credit-scoring" and info["version"] == "1"
    assert info["alias"] == "production" and info["run_id"] == "run-1"
    assert info["metrics"] == {"test_auc": 0.75, "test_ks": 0.4}
    assert info["source"] == "registry" and info["loaded_at"]


def test_admin_reload_swaps_and_refuses(
    client: TestClient, source: Any, schema: FeatureSchema
) -> None:
    source.alias_version = "2"
    resp = client.post("/v1/admin/reload", headers=ADMIN)
    assert resp.json() == {
        "outcome": "swapped",
        "previous_version": "1",
        "version": "2",
        "detail": "now serving version 2",
    }
    assert (
        client.post("/v1/score", json=example_application(schema), headers=KEY).json()[
            "model_version"
        ]
        == "2"
    )
    source.alias_version = "broken"
    resp = client.post("/v1/admin/reload", headers=ADMIN)
    assert resp.status_code == 409 and resp.json()["outcome"] == "failed"
    assert (
        client.post("/v1/score", json=example_application(schema), headers=KEY).json()[
            "model_version"
        ]
        == "2"
    )


def _signed(
    body: dict[str, Any],
    secret: str = "hook-secret",  # noqa: S107
) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    ts = str(int(time.time()))
    headers = {
        webhook.DELIVERY_ID_HEADER: "d-42",
        webhook.TIMESTAMP_HEADER: ts,
        webhook.SIGNATURE_HEADER: webhook.sign(secret, "d-42", ts, raw),
        "content-type": "application/json",
    }
    return raw, headers


def test_webhook_triggers_reload(client: TestClient, source: Any) -> None:
    source.alias_version = "2"
    event = {
        "entity": "model_version_alias",
        "action": "created",
        "timestamp": "now",
        "data": {"name": "credit-scoring", "alias": "production", "version": "2"},
    }
    raw, headers = _signed(event, secret="wrong")
    assert client.post("/v1/webhooks/mlflow", content=raw, headers=headers).status_code == 401
    other = {**event, "data": {**event["data"], "alias": "staging"}}
    raw, headers = _signed(other)
    resp = client.post("/v1/webhooks/mlflow", content=raw, headers=headers)
    assert (resp.status_code, resp.json()["status"]) == (200, "ignored")
    raw, headers = _signed(event)
    assert client.post("/v1/webhooks/mlflow", content=raw, headers=headers).status_code == 202
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if client.get("/readyz").json()["model_version"] == "2":
            break
        time.sleep(0.05)
    assert client.get("/readyz").json()["model_version"] == "2"


def _wait_not_ready(client: TestClient, reason: str, timeout: float = 20) -> StatusOut:
    """Poll ``/readyz`` until it answers 503 naming ``reason``."""
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get("/readyz")
        status = StatusOut.model_validate_json(resp.content)
        if resp.status_code == 503 and reason in (status.detail or ""):
            return status
        assert time.monotonic() < deadline, f"/readyz never said {reason!r}: {resp.text}"
        time.sleep(0.05)


def test_not_ready_until_a_model_loads(
    settings: Settings, make_source: Callable[..., Any], schema: FeatureSchema
) -> None:
    source = make_source("1")
    source.reachable = False
    with TestClient(create_app(settings, source_factory=lambda: source)) as c:
        assert _wait_not_ready(c, "registry unreachable").status == "not_ready"
        assert c.get("/healthz").status_code == 200
        resp = c.post("/v1/score", json=example_application(schema), headers=KEY)
        assert resp.status_code == 503 and resp.headers["retry-after"] == "5"
        assert "registry unreachable" in resp.json()["detail"]
        source.reachable = True
        assert c.post("/v1/admin/reload", headers=ADMIN).json()["outcome"] == "swapped"
        _wait_ready(c)


def test_metrics_count_routes_decisions_and_model(
    client: TestClient, schema: FeatureSchema
) -> None:
    for _ in range(3):
        client.post("/v1/score", json=example_application(schema), headers=KEY)
    client.post("/v1/score", json={}, headers=KEY)
    client.get("/no/such/path")
    text = client.get("/metrics").text
    assert (
        'credit_scoring_http_requests_total{method="POST",route="/v1/score",status="200"} 3.0'
        in text
    )
    assert (
        'credit_scoring_http_requests_total{method="POST",route="/v1/score",status="422"} 1.0'
        in text
    )
    assert 'route="unmatched",status="404"' in text
    assert "credit_scoring_http_request_duration_seconds_bucket" in text
    decisions = [ln for ln in text.splitlines() if ln.startswith("credit_scoring_decisions_total{")]
    assert sum(float(ln.rsplit(" ", 1)[1]) for ln in decisions) == 3
    assert (
        'credit_scoring_model_info{alias="production",name="credit-scoring",run_id="run-1",'
        'source="registry",version="1"} 1.0' in text
    )
    assert 'credit_scoring_model_reloads_total{outcome="swapped",trigger="startup"} 1.0' in text


def test_logs_are_json_with_request_id_and_no_secrets(
    client: TestClient, schema: FeatureSchema
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        client.post(
            "/v1/score", json=example_application(schema), headers={**KEY, "X-Request-ID": "rid-7"}
        )
        client.post(
            "/v1/score", json=example_application(schema), headers={"X-API-Key": "guessed-key"}
        )
    finally:
        logging.getLogger().removeHandler(handler)
    err = stream.getvalue()
    lines = [json.loads(ln) for ln in err.splitlines()]
    access = [ln for ln in lines if ln["logger"] == "credit_scoring.api.access"]
    assert any(
        ln["request_id"] == "rid-7" and ln["status"] == 200 and ln["model_version"] == "1"
        for ln in access
    )
    assert any(ln["status"] == 401 for ln in access)
    for secret in ("key-two", "guessed-key", "admin-key"):
        assert secret not in err
    assert "business" not in err  # applicant fields are not logged by default


def test_decisions_recorded_in_the_ledger_by_shutdown(
    settings: Settings, source: Any, schema: FeatureSchema
) -> None:
    """Every answered decision is in the embedded ledger once the app stops, with the
    ``decision_id`` the response carried, its inputs, reasons and model version."""
    from credit_scoring.ledger.embedded import EmbeddedLedgerStore

    with TestClient(create_app(settings, source_factory=lambda: source)) as c:
        _wait_ready(c)
        one = c.post(
            "/v1/score", json=example_application(schema), headers={**KEY, "X-Request-ID": "one"}
        ).json()
        rows = {"applications": [example_application(schema)] * 3}
        many = c.post("/v1/score/batch", json=rows, headers={**KEY, "X-Request-ID": "many"})
    assert one["decision_id"] == "one"
    assert [r["decision_id"] for r in many.json()["results"]] == ["many-0", "many-1", "many-2"]
    store = EmbeddedLedgerStore(settings.ledger_path)
    entries = store.entries(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    assert store.verify().ok
    store.close()
    assert sorted(e.decision_id for e in entries) == ["many-0", "many-1", "many-2", "one"]
    bodies = [e.body for e in entries]
    assert all(b["model_version"] == "1" and b["inputs"]["purpose"] == "business" for b in bodies)
    assert all(b["latency_ms"] > 0 and b["reasons"] for b in bodies)
    assert {b["channel"] for b in bodies} == {"api", "batch"}
    assert not list(settings.resolved_ledger_spool_dir.glob("seg-*"))


def test_openapi_has_examples_and_security(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/v1/score"]["post"]
    assert op["security"] == [{"ApiKey": []}]
    body = op["requestBody"]["content"]["application/json"]
    assert "applicant" in body["examples"]
    assert spec["components"]["schemas"]["Application"]["additionalProperties"] is False
    assert set(spec["paths"]) >= {
        "/v1/score",
        "/v1/score/batch",
        "/v1/model",
        "/healthz",
        "/readyz",
        "/v1/admin/reload",
        "/v1/webhooks/mlflow",
    }


def test_settings_file_schema_used(
    tmp_path: Path, settings_factory: Callable[..., Settings], schema: FeatureSchema, source: Any
) -> None:
    narrowed = schema.model_copy(deep=True)
    narrowed.features[3].categories = narrowed.features[3].categories[:-1]  # type: ignore[index]
    path = narrowed.dump(tmp_path / "schema.yaml")
    app = create_app(settings_factory(api_schema_path=path), source_factory=lambda: source)
    with TestClient(app) as c:
        # The served version's schema differs from the API's: refused, never ready.
        _wait_not_ready(c, "does not match the API's request schema")


def test_bad_max_reasons_and_auth_before_validation(
    client: TestClient, schema: FeatureSchema
) -> None:
    payload = example_application(schema)
    resp = client.post("/v1/score?max_reasons=many", json=payload, headers=KEY)
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["query", "max_reasons"]
    assert client.post("/v1/score?max_reasons=51", json=payload, headers=KEY).status_code == 422
    no_reasons = client.post("/v1/score?max_reasons=0", json=payload, headers=KEY).json()
    full = client.post("/v1/score", json=payload, headers=KEY).json()
    assert no_reasons["reasons"] == []
    assert no_reasons["probability"] == pytest.approx(full["probability"], abs=1e-12)
    # An unauthenticated caller learns nothing about the schema.
    assert client.post("/v1/score", json={"x": 1}).status_code == 401


def test_responses_match_their_documented_models(client: TestClient, schema: FeatureSchema) -> None:
    """Every JSON answer validates against the response model its route documents, with no
    field the model does not declare."""
    spec = client.get("/openapi.json").json()
    good = example_application(schema)
    calls: list[tuple[str, str, dict[str, Any], int, type[Any]]] = [
        ("post", "/v1/score", {"json": good, "headers": KEY}, 200, ScoreResponse),
        (
            "post",
            "/v1/score/batch",
            {"json": {"applications": [good, good]}, "headers": KEY},
            200,
            BatchResponse,
        ),
        ("get", "/v1/model", {"headers": KEY}, 200, ModelInfo),
        ("post", "/v1/admin/reload", {"headers": ADMIN}, 200, ReloadResponse),
        ("get", "/healthz", {}, 200, StatusOut),
        ("get", "/readyz", {}, 200, StatusOut),
    ]
    for method, path, kwargs, code, model in calls:
        documented = spec["paths"][path][method]["responses"][str(code)]
        ref = documented["content"]["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{model.__name__}", path
        resp = getattr(client, method)(path, **kwargs)
        assert resp.status_code == code, (path, resp.text)
        parsed = model.model_validate_json(resp.content)
        body = resp.json()
        assert set(body) <= set(model.model_fields), (path, set(body) - set(model.model_fields))
        assert parsed.model_dump(mode="json", exclude_unset=True) == body, path


def test_readyz_names_a_refused_alias_target(client: TestClient, source: Any) -> None:
    """Ready (the previous version serves) and says which version the alias points at that was
    refused; HEAD answers without a body."""
    source.alias_version = "broken"
    assert client.post("/v1/admin/reload", headers=ADMIN).status_code == 409
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert (body["model_version"], body["refused_version"]) == ("1", "broken")
    assert "refused version broken" in body["detail"]
    assert "credit_scoring_model_refused_version{" in client.get("/metrics").text
    head = client.head("/readyz")
    assert head.status_code == 200 and head.content == b""
