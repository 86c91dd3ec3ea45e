"""No query parameter or header gives a 500 on any route (property-based, Hypothesis).

Schemathesis (``tests/integration/api/test_api_fuzz.py``) fuzzes what the OpenAPI document
declares, mostly bodies. Here Hypothesis sends every route (all methods it accepts) arbitrary
query strings and headers (the API key, request id, MLflow webhook signature headers, content
type...) with values that broke it before: non-ASCII digits (``²``, ``٣``), 400-digit numbers,
empty strings, control-free Latin-1 text. The body is valid where one is needed, so the
parameters and headers are what is tested. Found cases are pinned as regressions below.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient; httpx (a runtime dependency) still works.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from credit_scoring.api.app import create_app
from credit_scoring.api.schemas import example_application
from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema

pytestmark = pytest.mark.unit

KEY = "key-two"
HEADER_NAMES = [
    "X-API-Key",
    "X-Request-ID",
    "X-MLflow-Signature",
    "X-MLflow-Timestamp",
    "X-MLflow-Delivery-Id",
    "Content-Type",
    "Accept",
    "Authorization",
    "X-Forwarded-For",
    "Range",
]
QUERY_NAMES = ["max_reasons", "version", "alias", "limit", "x"]

tricky = st.sampled_from(
    ["", "²", "٣", "1" * 400, "-1", "1e309", "NaN", "0x10", " 4", "４", "true", "null", "%00"]
)
latin1 = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"))
values = st.one_of(tricky, latin1, st.integers().map(str))


@pytest.fixture
def fuzz_client(settings_factory: Any, make_source: Any) -> Iterator[TestClient]:
    settings: Settings = settings_factory(reload_interval_s=60, max_body_bytes=20_000)
    source = make_source("1")
    with TestClient(create_app(settings, source_factory=lambda: source)) as client:
        deadline = time.monotonic() + 20
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield client


def _routes(client: TestClient) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Every documented (method, path); and the others: HEAD, OPTIONS, DELETE on each path."""
    paths = client.get("/openapi.json").json()["paths"]
    documented = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    others = {
        (m, p)
        for p in [*paths, "/docs", "/redoc", "/openapi.json"]
        for m in ("GET", "HEAD", "OPTIONS", "DELETE")
    }
    return sorted(documented), sorted(others - documented)


def test_no_query_or_header_gives_a_server_error(
    fuzz_client: TestClient, schema: FeatureSchema
) -> None:
    documented, others = _routes(fuzz_client)
    assert ("POST", "/v1/score") in documented and ("HEAD", "/healthz") in others
    application = example_application(schema)
    bodies: dict[str, Any] = {
        "/v1/score": application,
        "/v1/score/batch": {"applications": [application]},
    }
    seen: dict[int, int] = {}

    @settings(
        max_examples=400,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        route=st.sampled_from(documented) | st.sampled_from(others),
        query=st.dictionaries(st.sampled_from(QUERY_NAMES) | latin1, values, max_size=3)
        | st.fixed_dictionaries({"max_reasons": values}),
        headers=st.dictionaries(st.sampled_from(HEADER_NAMES), values, max_size=4),
        keyed=st.booleans(),
    )
    def run(
        route: tuple[str, str], query: dict[str, str], headers: dict[str, str], keyed: bool
    ) -> None:
        method, path = route
        if keyed:
            headers = {**headers, "X-API-Key": KEY}
        body = bodies.get(path, {}) if method in ("POST", "PUT", "PATCH") else None
        raw = {k: v.encode() for k, v in headers.items()}  # UTF-8 bytes on the wire
        response = fuzz_client.request(method, path, params=query, headers=raw, json=body)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (method, path, query, headers, response.text)

    run()
    assert seen.get(200, 0) > 20 and seen.get(401, 0) > 0 and seen.get(422, 0) > 0, seen


def test_found_cases_are_4xx(fuzz_client: TestClient, schema: FeatureSchema) -> None:
    """The inputs that gave a 500 (issue 13), and strict numbers."""
    app = example_application(schema)
    key = {"X-API-Key": KEY}
    r = fuzz_client.post("/v1/score?max_reasons=%C2%B2", json=app, headers=key)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "max_reasons"]
    hook = fuzz_client.post(
        "/v1/webhooks/mlflow",
        content=b"{}",
        headers={
            "X-MLflow-Timestamp": "9" * 400,
            "X-MLflow-Signature": "v1,AAAA",
            "X-MLflow-Delivery-Id": "d-1",
        },
    )
    assert hook.status_code == 401 and "Unix timestamp" in hook.text
    numeric = next(f.name for f in schema.features if f.type == "numeric")
    r = fuzz_client.post("/v1/score", json={**app, numeric: True}, headers=key)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", numeric]
    assert "not a boolean" in r.text
    batch = {"applications": [app, {**app, numeric: False}]}
    assert fuzz_client.post("/v1/score/batch", json=batch, headers=key).status_code == 422
    for path in ("/healthz", "/readyz"):
        head = fuzz_client.head(path)
        assert head.status_code == 200 and head.content == b""
