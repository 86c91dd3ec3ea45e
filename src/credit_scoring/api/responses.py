"""JSON responses and the API's error answers (every error body carries ``request_id``).

:func:`add_exception_handlers` registers the handlers on the app; Starlette's exception
middleware applies them to whatever a route raises, plain ASGI routes included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError

from credit_scoring.api.slow_clients import BodyReadTimeout

JSON = "application/json"


class InvalidRequest(Exception):
    """Field-level validation errors of a hand-validated body (answered with 422)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid request")
        self.errors = errors


def json_response(
    content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``content`` serialised with orjson (numpy scalars allowed)."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status_code,
        media_type=JSON,
        headers=headers,
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return json_response(
        {"detail": errors, "request_id": request.state.request_id},
        status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def _invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidRequest)
    return json_response(
        {"detail": exc.errors, "request_id": request.state.request_id},
        status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return json_response(
        {"detail": exc.detail, "request_id": getattr(request.state, "request_id", None)},
        exc.status_code,
        headers=exc.headers,
    )


async def _body_timeout(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyReadTimeout)
    callback = getattr(request.state, "on_slow_client", None)
    if callback is not None:
        callback("body")
    return json_response(
        {"detail": str(exc), "request_id": getattr(request.state, "request_id", None)},
        status.HTTP_408_REQUEST_TIMEOUT,
        headers={"Connection": "close"},
    )


def add_exception_handlers(app: FastAPI) -> None:
    """422 for invalid requests (FastAPI's and hand-validated ones), JSON for HTTP errors,
    408 (connection closed) for a body that does not arrive in time."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(BodyReadTimeout, _body_timeout)
    app.add_exception_handler(InvalidRequest, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
