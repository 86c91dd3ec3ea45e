"""The API's pure ASGI middlewares, one job each, outermost first:

1. :class:`RequestIdMiddleware`: the request id (caller's ``X-Request-ID`` when safe, else a new
   one) in the scope's state, the logging context and the ``X-Request-ID`` response header;
2. :class:`TelemetryMiddleware`: the request's outcome: metrics by route, method and status, the
   access log, and the last-resort JSON 500 for unhandled exceptions (the 500 it records);
3. :class:`BodyLimitMiddleware`: 413 for bodies over ``max_body_bytes``.

Each middleware layer costs every request a coroutine and, when it wraps ``send``, a wrapper
call per message: telemetry and the last-resort 500 share one observed ``send``, which is why
they are one middleware (issue 12: no speed regression of ``POST /v1/score``).

The route label is the matched route's path template (``unmatched`` otherwise, so scanners cannot
blow up the metric cardinality), read from ``scope["route"]`` as the router set it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from credit_scoring.api.logs import new_request_id, request_id_var
from credit_scoring.api.metrics import ApiMetrics
from credit_scoring.api.responses import JSON

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("credit_scoring.api")
access_logger = logging.getLogger("credit_scoring.api.access")
_JSON_RAW = JSON.encode()


class RequestIdMiddleware:
    """Sets ``state["request_id"]`` and ``state["t0"]`` (request start), the logging context
    variable, and the ``X-Request-ID`` header of the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        incoming = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = new_request_id(incoming)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["t0"] = t0
        rid_header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        token = request_id_var.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def route_label(scope: Scope) -> str:
    """The metric label of the request's route."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class _ObservedSend:
    """``send`` that remembers the response status (None until the response starts)."""

    __slots__ = ("send", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status: int | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)


class TelemetryMiddleware:
    """The request's outcome: counts and times every request by (route, method, status), writes
    the access line, and turns an unhandled exception into that outcome (logged, counted, and
    answered with a JSON 500 carrying the request id when no response has started).

    Recording the outcome and producing the 500 are one job here: an unhandled exception *is*
    the 500 this middleware records, and both need the same observed ``send`` (one wrapper per
    request instead of two nested middlewares doing the same bookkeeping).
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # Labelled children by (route, method, status): the label lookup (validation, tuple
        # building, lock) is repeated on every request otherwise.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        observed = _ObservedSend(send)
        try:
            await self.app(scope, receive, observed)
        except Exception:
            logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            self.metrics.errors.labels(route_label(scope), "exception").inc()
            if observed.status is None:
                rid = scope["state"].get("request_id")
                await send_json(observed, 500, {"detail": "internal error", "request_id": rid})
        finally:
            status = 500 if observed.status is None else observed.status
            self._observe(scope, status, time.perf_counter() - start)

    def _observe(self, scope: Scope, status_code: int, elapsed: float) -> None:
        route = route_label(scope)
        method = scope["method"]
        key = (route, method, status_code)
        children = self._children.get(key)
        if children is None:
            labels = (route, method, str(status_code))
            children = (self.metrics.requests.labels(*labels), self.metrics.latency.labels(*labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed)
        if status_code >= 400:
            kind = "server" if status_code >= 500 else "client"
            self.metrics.errors.labels(route, kind).inc()
        if route != "/metrics" and access_logger.isEnabledFor(logging.INFO):
            access_logger.info(
                "%s %s %d",
                method,
                route,
                status_code,
                extra={
                    "status": status_code,
                    "latency_ms": round(elapsed * 1000, 3),
                    "model_version": scope["state"].get("model_version"),
                },
            )


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """413 for a ``Content-Length`` over the limit, or a streamed body that grows past it."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                length = value
                break
        if length is not None:
            # The server delivers at most Content-Length bytes: checking the header suffices.
            if length.isdigit() and int(length) <= self.max_body:
                await self.app(scope, receive, send)
            else:
                await self._too_large(scope, send)
            return
        received = 0

        async def receive_counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge
            return message

        observed = _ObservedSend(send)
        try:
            await self.app(scope, receive_counted, observed)
        except _BodyTooLarge:
            if observed.status is None:
                await self._too_large(scope, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        detail = f"request body larger than {self.max_body} bytes"
        await send_json(send, 413, {"detail": detail, "request_id": scope["state"]["request_id"]})


async def send_json(send: Send, status_code: int, body: dict[str, Any]) -> None:
    """Answer with a JSON body using raw ASGI messages."""
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status_code,
            "headers": [
                (b"content-type", _JSON_RAW),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
