"""``POST /v1/score`` and ``POST /v1/score/batch``: thin ASGI endpoints over the scoring service.

The routes are ordinary router entries (matched by the router, which sets ``scope["route"]``;
errors answered by the app's exception handlers; ``root_path`` honoured) documented in OpenAPI
like any FastAPI route, but each is handled by a plain ASGI function instead of FastAPI's
request/response machinery (dependency solving, ``Request``/``Response`` objects), which costs more
than scoring one applicant. The key check and validation happen in
:func:`credit_scoring.api.service.parse`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette._utils import get_route_path  # the root_path rule every Starlette route uses
from starlette.routing import Match

from credit_scoring.api import service
from credit_scoring.api.auth import API_KEY_HEADER
from credit_scoring.api.middleware import ASGIApp, Receive, Scope, Send
from credit_scoring.api.responses import JSON
from credit_scoring.api.schemas import (
    APPLICATION_MODEL_NAME,
    BATCH_MODEL_NAME,
    BatchResponse,
    ScoreResponse,
)
from credit_scoring.api.state import ApiState

_API_KEY_HEADER_RAW = API_KEY_HEADER.lower().encode("latin-1")
_JSON_RAW = JSON.encode()


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _api_key(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == _API_KEY_HEADER_RAW:
            return str(value.decode("latin-1"))
    return None


async def _answer(send: Send, body: bytes, version: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"x-model-version", version.encode("latin-1")),
                (b"content-length", str(len(body)).encode("latin-1")),
                (b"content-type", _JSON_RAW),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def score_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """``POST /v1/score`` as an ASGI app."""
    api: ApiState = scope["app"].state.api
    body = await _read_body(receive)
    scored = service.score_one(api, _api_key(scope), scope["query_string"], body, scope["state"])
    await _answer(send, scored.body(), scored.version)
    if api.shadow is not None:  # after the response: the caller never waits for the shadow
        api.shadow.submit(scored.decision_ids, scored.version, scored.records, scored.results)


async def score_batch_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """``POST /v1/score/batch`` as an ASGI app."""
    api: ApiState = scope["app"].state.api
    body = await _read_body(receive)
    scored = await service.score_batch(
        api, _api_key(scope), scope["query_string"], body, scope["state"]
    )
    await _answer(send, scored.batch_body(), scored.version)
    if api.shadow is not None:
        api.shadow.submit(scored.decision_ids, scored.version, scored.records, scored.results)


# The documented endpoints below are what OpenAPI shows; requests go to their ASGI twin.
async def score(request: Request) -> Response:
    """Probability of default, score points, decision and the top adverse reason codes."""
    raise NotImplementedError  # pragma: no cover - handled by score_asgi


async def score_batch(request: Request) -> Response:
    """Score up to ``max_batch_size`` applications with one model version (vectorised)."""
    raise NotImplementedError  # pragma: no cover - handled by score_batch_asgi


_HANDLERS: dict[Callable[..., Any], ASGIApp] = {score: score_asgi, score_batch: score_batch_asgi}


class AsgiEndpointRoute(APIRoute):
    """An API route documented from its endpoint function and handled by that function's plain
    ASGI twin (:data:`_HANDLERS`); method matching (405) stays the router's.

    The scoring paths have no parameters, so :meth:`matches` compares the route path (root path
    stripped) as a string instead of running the regex and the included-router lookups of
    :class:`APIRoute` (this route is never in an included router: :func:`add_routes` puts it on
    the app's own router); the child scope is the one ``APIRoute`` gives (endpoint, path
    parameters, ``route``), so the router sets ``scope["route"]`` as for any route.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if self.param_convertors:
            raise ValueError(f"{path}: an ASGI scoring route takes no path parameters")
        self.app = _HANDLERS[endpoint]
        self._methods = frozenset(self.methods or ())

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or get_route_path(scope) != self.path:
            return Match.NONE, {}
        child_scope = {
            "endpoint": self.endpoint,
            "path_params": dict(scope.get("path_params", {})),
            "route": self,
        }
        return (Match.FULL if scope["method"] in self._methods else Match.PARTIAL), child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] in self._methods:
            await self.app(scope, receive, send)
        else:
            await super().handle(scope, receive, send)  # 405 with Allow, as for any route


_responses: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid API key."},
    413: {"description": "Request body too large."},
    422: {"description": "Invalid application: the field-level errors are in `detail`."},
    503: {"description": "No model loaded yet."},
}


def add_routes(router: APIRouter) -> None:
    """Add both routes to ``router`` (the app's own router: no included-router indirection on
    the hot path), ahead of its other routes (FastAPI's docs routes): matched first."""
    before = len(router.routes)
    for path, endpoint, response_model, summary in (
        ("/v1/score", score, ScoreResponse, "Score one loan application"),
        ("/v1/score/batch", score_batch, BatchResponse, "Score many loan applications"),
    ):
        router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            response_model=response_model,
            responses=_responses,
            tags=["scoring"],
            summary=summary,
            route_class_override=AsgiEndpointRoute,
        )
    router.routes[:] = router.routes[before:] + router.routes[:before]


def document(spec: dict[str, Any], api: ApiState) -> None:
    """Add what FastAPI cannot see to ``spec``: the hand-validated request bodies (with examples),
    the ``max_reasons`` parameter and the API-key security of both routes."""
    example = api.example
    max_reasons = {
        "name": "max_reasons",
        "in": "query",
        "required": False,
        "description": f"Reason codes per application (default {api.settings.max_reasons}).",
        "schema": {"type": "integer", "minimum": 0, "maximum": service.MAX_REASONS_LIMIT},
    }
    bodies = {
        "/v1/score": (
            APPLICATION_MODEL_NAME,
            {"applicant": {"summary": "A valid application", "value": example}},
        ),
        "/v1/score/batch": (
            BATCH_MODEL_NAME,
            {
                "two": {
                    "summary": "Two applications",
                    "value": {"applications": [example, example]},
                }
            },
        ),
    }
    for path, (ref, examples) in bodies.items():
        operation = spec["paths"][path]["post"]
        operation["parameters"] = [max_reasons]
        operation["requestBody"] = {
            "required": True,
            "content": {
                JSON: {"schema": {"$ref": f"#/components/schemas/{ref}"}, "examples": examples}
            },
        }
        operation["security"] = [{"ApiKey": []}]
