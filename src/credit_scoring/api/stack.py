"""The app class: FastAPI without the two built-in middleware layers that do nothing for this API.

FastAPI 0.165 wraps every app in ``ServerErrorMiddleware``, ``ExceptionTelemetryMiddleware``,
``AppBodyLimitMiddleware``, the user middlewares, ``ExceptionMiddleware`` and
``AsyncExitStackMiddleware`` (``FastAPI.build_middleware_stack``). Two of them only act when a
feature is on:

* ``ExceptionTelemetryMiddleware`` adds an unhandled exception to the request's native
  OpenTelemetry record, which exists only when FastAPI's native telemetry is on
  (``telemetry={"tracing"|"metrics"|"logs": True}``, ``Settings.api_opentelemetry``);
* ``AppBodyLimitMiddleware`` enforces ``FastAPI(max_body_size=...)`` (not used: the API's own
  :class:`~credit_scoring.api.middleware.BodyLimitMiddleware` answers 413 with the request id)
  and the byte count of a parent app this app is mounted in (it is served at top level).

Each layer costs every request a coroutine; :class:`ScoringFastAPI` leaves those two out when
they would do nothing and keeps everything else in FastAPI's order: the last-resort
``ServerErrorMiddleware``, the user middlewares, the ``ExceptionMiddleware`` that applies the
app's exception handlers (to the plain ASGI scoring routes too), and the exit stack that
FastAPI-style routes require (they refuse to run without it).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi._body_limit import AppBodyLimitMiddleware
from fastapi.telemetry import TelemetryConfig
from fastapi.telemetry._asgi import ExceptionTelemetryMiddleware
from starlette.types import ASGIApp

#: FastAPI's telemetry switches: native telemetry runs only when one of them is on.
TELEMETRY_SIGNALS = ("tracing", "metrics", "logs")


class ScoringFastAPI(FastAPI):
    """``FastAPI`` whose middleware stack omits the layers that are no-ops for this app."""

    def __init__(self, *, telemetry: TelemetryConfig, **kwargs: Any) -> None:
        super().__init__(telemetry=telemetry, **kwargs)
        # An omitted switch defaults to on in FastAPI.
        self._native_telemetry_on = any(telemetry.get(s, True) for s in TELEMETRY_SIGNALS)

    def idle_layers(self) -> tuple[type, ...]:
        """FastAPI's built-in layers that would do nothing in this app."""
        idle: list[type] = []
        if not self._native_telemetry_on:
            idle.append(ExceptionTelemetryMiddleware)
        if self.max_body_size is None:
            idle.append(AppBodyLimitMiddleware)
        return tuple(idle)

    def build_middleware_stack(self) -> ASGIApp:
        """FastAPI's own stack minus :meth:`idle_layers`: the chain of layers (each holds the
        next as ``.app``, down to the router) is relinked without them, in the same order."""
        full = super().build_middleware_stack()
        idle = self.idle_layers()
        if not idle:
            return full
        layers: list[Any] = []
        app: Any = full
        while app is not self.router:
            layers.append(app)
            app = app.app
        inner: ASGIApp = self.router
        for layer in reversed(layers):
            if isinstance(layer, idle):
                continue
            layer.app = inner
            inner = layer
        return inner
