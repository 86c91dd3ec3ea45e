"""The app's middleware stack: FastAPI's layers minus the idle ones, and the last-resort 500.

:class:`~credit_scoring.api.stack.ScoringFastAPI` relinks FastAPI's own stack without the layers
that would do nothing; these tests pin which layers remain (so a FastAPI upgrade that changes
its stack is noticed) and that an unhandled exception still ends as a JSON 500 with the request
id, counted and logged (:class:`~credit_scoring.api.middleware.TelemetryMiddleware`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient; httpx (a runtime dependency) still works.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from credit_scoring.api import middleware
from credit_scoring.api.app import create_app
from credit_scoring.config import Settings


def _layers(app: Any, router: Any) -> list[str]:
    names = []
    while app is not router:
        names.append(type(app).__name__)
        app = app.app
    return names


def test_stack_is_fastapis_without_idle_layers(
    settings_factory: Callable[..., Settings], make_source: Callable[..., Any]
) -> None:
    app = create_app(settings_factory(), source_factory=lambda: make_source("1"))
    ours = _layers(app.build_middleware_stack(), app.router)
    fastapis = _layers(FastAPI.build_middleware_stack(app), app.router)
    assert ours == [
        "ServerErrorMiddleware",
        "RequestIdMiddleware",
        "TelemetryMiddleware",
        "BodyLimitMiddleware",
        "BodyTimeoutMiddleware",
        "ExceptionMiddleware",
        "AsyncExitStackMiddleware",
    ]
    assert [n for n in fastapis if n not in ours] == [
        "ExceptionTelemetryMiddleware",
        "AppBodyLimitMiddleware",
    ]
    assert [n for n in fastapis if n in ours] == ours

    traced = create_app(
        settings_factory(api_opentelemetry=True), source_factory=lambda: make_source("1")
    )
    assert "ExceptionTelemetryMiddleware" in _layers(traced.build_middleware_stack(), traced.router)


def test_unhandled_exception_is_a_json_500_counted_and_logged(
    settings_factory: Callable[..., Settings], make_source: Callable[..., Any], caplog: Any
) -> None:
    app = create_app(settings_factory(), source_factory=lambda: make_source("1"))

    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/boom", boom)
    with TestClient(app) as client, caplog.at_level("ERROR", logger=middleware.logger.name):
        resp = client.get("/boom", headers={"X-Request-ID": "req-500"})
        metrics = client.get("/metrics").text
    assert resp.status_code == 500
    assert resp.headers["x-request-id"] == "req-500"
    assert resp.headers["content-type"] == "application/json"
    assert resp.content == b'{"detail":"internal error","request_id":"req-500"}'
    assert (
        'credit_scoring_http_requests_total{method="GET",route="/boom",status="500"} 1.0' in metrics
    )
    assert 'credit_scoring_http_errors_total{kind="exception",route="/boom"} 1.0' in metrics
    assert 'credit_scoring_http_errors_total{kind="server",route="/boom"} 1.0' in metrics
    assert any("unhandled error on GET /boom" in r.getMessage() for r in caplog.records)
