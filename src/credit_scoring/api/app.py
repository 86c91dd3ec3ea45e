"""The FastAPI scoring service: ``create_app(settings)`` builds it, nothing happens at import.

Run it with ``credit-scoring serve`` or ``uvicorn --factory credit_scoring.api.app:create_app``
(the factory reads settings from the environment). Endpoints: ``POST /v1/score``,
``POST /v1/score/batch``, ``GET /v1/model``, ``POST /v1/admin/reload``,
``POST /v1/webhooks/mlflow``, ``GET /healthz``, ``GET /readyz``, ``GET /metrics``.
"""

# No ``from __future__ import annotations`` here: the endpoints' body types are built at run time
# from the feature schema and FastAPI must see them as real objects.

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import anyio
import orjson
from fastapi import (
    Depends,
    FastAPI,
    HTTPException,
    Request,
    Response,
    status,
)
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.telemetry import TelemetryConfig
from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams

from credit_scoring.api import webhook
from credit_scoring.api.auth import (
    API_KEY_HEADER,
    KeyChecker,
    require_admin_key,
    require_scoring_key,
)
from credit_scoring.api.logs import configure_logging, new_request_id, request_id_var
from credit_scoring.api.metrics import CONTENT_TYPE_LATEST, ApiMetrics
from credit_scoring.api.model_manager import (
    LoadedModel,
    ModelManager,
    ModelSource,
    ScoringModel,
)
from credit_scoring.api.prediction_log import (
    JsonlSink,
    PostgresSink,
    PredictionLogger,
    Row,
    Sink,
    make_row,
)
from credit_scoring.api.schemas import (
    APPLICATION_MODEL_NAME,
    BATCH_MODEL_NAME,
    BatchResponse,
    ModelInfo,
    ReloadResponse,
    ScoreResponse,
    StatusOut,
    build_application_model,
    build_batch_model,
    example_application,
)
from credit_scoring.config import Settings, get_settings
from credit_scoring.data.schema import FeatureSchema

logger = logging.getLogger("credit_scoring.api")
access_logger = logging.getLogger("credit_scoring.api.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_MAX_REASONS_LIMIT = 50
#: Batches larger than this are scored in a worker thread so the event loop stays responsive.
_THREAD_BATCH_ROWS = 64
_JSON = "application/json"
_JSON_RAW = _JSON.encode()
_API_KEY_HEADER_RAW = API_KEY_HEADER.lower().encode("latin-1")


def bundled_schema_path() -> Path:
    """The bundled German Credit feature schema."""
    return Path(str(files("credit_scoring") / "data" / "bundled" / "german_credit.schema.yaml"))


def _json(
    content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status_code,
        media_type=_JSON,
        headers=headers,
    )


def _telemetry(enabled: bool) -> TelemetryConfig:
    return {"tracing": enabled, "metrics": enabled, "logs": enabled}


class _BodyTooLarge(Exception):
    pass


class _InvalidRequest(Exception):
    """Field-level validation errors of a hand-validated body (answered with 422)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid request")
        self.errors = errors


class ObservabilityMiddleware:
    """Request id, body-size limit, metrics, access log and last-resort 500s (pure ASGI).

    ``fast_routes`` maps ``(method, path)`` to ``(route, asgi_handler)``: such requests skip the
    router and FastAPI's per-request machinery (dependency solving, telemetry, exit stacks) and
    go straight to the handler, which must answer exactly as the routed endpoint would. It may
    be filled after the app is built (the scoring routes are declared after the middleware).
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: ApiMetrics,
        max_body_bytes: int,
        fast_routes: Mapping[tuple[str, str], tuple[Any, ASGIApp]] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes
        self.fast_routes = fast_routes if fast_routes is not None else {}
        # Labelled children of the request metrics, by (route, method, status): the label lookup
        # (validation, tuple building, lock) is repeated on every request otherwise.
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming = None
        length = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                incoming = value.decode("latin-1")
            elif key == b"content-length":
                length = value
        rid = new_request_id(incoming)
        token = request_id_var.set(rid)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["t0"] = start
        status_code = 500
        started = False
        rid_header = (b"x-request-id", rid.encode())

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code, started
            if message["type"] == "http.response.start":
                started = True
                status_code = message["status"]
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge
            return message

        # With a root path the router strips it first: leave those requests to the router.
        fast = (
            None
            if scope.get("root_path")
            else self.fast_routes.get((scope["method"], scope["path"]))
        )
        try:
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                raise _BodyTooLarge
            if fast is None:
                await self.app(scope, receive_wrapper, send_wrapper)
            else:
                scope["route"] = fast[0]
                await fast[1](scope, receive_wrapper, send_wrapper)
        except _BodyTooLarge:
            if not started:
                await _send_json(
                    send_wrapper,
                    413,
                    {
                        "detail": f"request body larger than {self.max_body} bytes",
                        "request_id": rid,
                    },
                )
        except Exception:
            logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            self.metrics.errors.labels(_route_of(scope), "exception").inc()
            if not started:
                await _send_json(send_wrapper, 500, {"detail": "internal error", "request_id": rid})
        finally:
            elapsed = time.perf_counter() - start
            route = _route_of(scope)
            key = (route, scope["method"], str(status_code))
            children = self._children.get(key)
            if children is None:
                children = (self.metrics.requests.labels(*key), self.metrics.latency.labels(*key))
                self._children[key] = children
            children[0].inc()
            children[1].observe(elapsed)
            if status_code >= 400:
                kind = "server" if status_code >= 500 else "client"
                self.metrics.errors.labels(route, kind).inc()
            if route != "/metrics":
                access_logger.info(
                    "%s %s %d",
                    scope["method"],
                    route,
                    status_code,
                    extra={
                        "status": status_code,
                        "latency_ms": round(elapsed * 1000, 3),
                        "model_version": state.get("model_version"),
                    },
                )
            request_id_var.reset(token)


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    # Unmatched paths are one label so that scanners cannot blow up the metric cardinality.
    return getattr(route, "path", None) or "unmatched"


async def _send_json(send: Send, status_code: int, body: dict[str, Any]) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status_code,
            "headers": [
                (b"content-type", _JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def make_prediction_logger(settings: Settings, metrics: ApiMetrics) -> PredictionLogger:
    """PostgreSQL when a database URL is set (local files as fallback), else local files."""
    files_sink = JsonlSink(settings.prediction_log_dir)
    if settings.database_url is None:
        return PredictionLogger(files_sink, metrics)
    pg: Sink = PostgresSink(settings.database_url.get_secret_value())
    return PredictionLogger(pg, metrics, fallback=files_sink)


def create_app(
    settings: Settings | None = None,
    *,
    source_factory: Callable[[], ModelSource] | None = None,
    loader: Callable[[Path], ScoringModel] | None = None,
) -> FastAPI:
    """Build the scoring API; refuses (``AuthConfigError``) when no key is configured.

    ``source_factory``/``loader`` replace the MLflow registry and the ``CreditModel`` loader
    (used by unit tests); by default the app serves ``models:/<model_name>@<serve_alias>``.
    """
    settings = settings or get_settings()
    configure_logging(settings.api_log_level)
    keys = KeyChecker(settings)
    schema = FeatureSchema.load(settings.api_schema_path or bundled_schema_path())
    example = example_application(schema)
    application_model = build_application_model(schema, example)
    batch_model = build_batch_model(application_model, settings.max_batch_size)
    metrics = ApiMetrics()
    manager_kwargs: dict[str, Any] = {"source_factory": source_factory}
    if loader is not None:
        manager_kwargs["loader"] = loader
    predlog = make_prediction_logger(settings, metrics)
    fast_routes: dict[tuple[str, str], tuple[Any, ASGIApp]] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        manager = ModelManager(settings, schema, metrics, **manager_kwargs)
        app.state.manager = manager
        if isinstance(predlog.sink, PostgresSink):
            try:
                await anyio.to_thread.run_sync(predlog.sink.ensure_table)
            except Exception as exc:
                logger.error("prediction log database unreachable at start (will retry): %s", exc)
        predlog.start()
        manager.start()
        logger.info(
            "scoring API started: serving models:/%s@%s from %s",
            settings.model_name,
            settings.serve_alias,
            settings.resolved_tracking_uri,
        )
        try:
            yield
        finally:
            await manager.stop()
            await anyio.to_thread.run_sync(predlog.close)
            logger.info("scoring API stopped; prediction log flushed")

    app = FastAPI(
        title="Credit scoring API",
        version="1",
        summary="Probability of default, score points, decision and reason codes.",
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry checks its providers on every request; off unless asked.
        telemetry=_telemetry(settings.api_opentelemetry),
    )
    app.state.settings = settings
    app.state.keys = keys
    app.state.metrics = metrics
    app.state.predlog = predlog
    app.add_middleware(
        ObservabilityMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        fast_routes=fast_routes,
    )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return _json(
            {"detail": errors, "request_id": request.state.request_id},
            status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(_InvalidRequest)
    async def _invalid_request(request: Request, exc: _InvalidRequest) -> Response:
        return _json(
            {"detail": exc.errors, "request_id": request.state.request_id},
            status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        return _json(
            {"detail": exc.detail, "request_id": getattr(request.state, "request_id", None)},
            exc.status_code,
            headers=exc.headers,
        )

    def serving(state: dict[str, Any]) -> LoadedModel:
        """The loaded model (503 before the first load); ``state`` is the ASGI scope's state."""
        loaded: LoadedModel | None = app.state.manager.current
        if loaded is None:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail="no model loaded yet: " + (app.state.manager.last_error or ""),
                headers={"Retry-After": "5"},
            )
        state["model_version"] = loaded.version
        return loaded

    decision_children: dict[tuple[str, str], Any] = {}

    def decision_counter(decision: str, version: str) -> Any:
        child = decision_children.get((decision, version))
        if child is None:
            child = decision_children[(decision, version)] = metrics.decisions.labels(
                decision, version
            )
        return child

    def log_rows(
        state: dict[str, Any],
        loaded: LoadedModel,
        records: list[dict[str, Any]],
        results: list[Any],
        ids: list[str],
    ) -> None:
        latency_ms = (time.perf_counter() - state["t0"]) * 1000
        ts = datetime.now(UTC)  # one request, one time
        name, version = loaded.name, loaded.version
        rows: list[Row] = []
        decisions: dict[str, int] = {}
        for rid, record, res in zip(ids, records, results, strict=True):
            rows.append(
                make_row(
                    request_id=rid,
                    model_name=name,
                    model_version=version,
                    inputs=record,
                    probability=res.probability,
                    score=res.score,
                    decision=res.decision,
                    latency_ms=latency_ms,
                    ts=ts,
                )
            )
            decisions[res.decision] = decisions.get(res.decision, 0) + 1
        for decision, count in decisions.items():
            decision_counter(decision, version).inc(count)
        predlog.log(rows)
        if settings.log_applicant_fields:
            logger.info("scored applicants", extra={"inputs": records})

    def result_dict(res: Any) -> dict[str, Any]:
        return {
            "probability": res.probability,
            "score": res.score,
            "decision": res.decision,
            "reasons": [
                {
                    "feature": r.feature,
                    "value": r.value,
                    "contribution": r.contribution,
                    "points": r.points,
                    "reason": r.reason,
                }
                for r in res.reasons
            ],
        }

    auth_responses: dict[int | str, dict[str, Any]] = {
        401: {"description": "Missing or invalid API key."},
        413: {"description": "Request body too large."},
        422: {"description": "Invalid application: the field-level errors are in `detail`."},
        503: {"description": "No model loaded yet."},
    }
    max_reasons_param = {
        "name": "max_reasons",
        "in": "query",
        "required": False,
        "description": f"Reason codes per application (default {settings.max_reasons}).",
        "schema": {"type": "integer", "minimum": 0, "maximum": _MAX_REASONS_LIMIT},
    }

    def body_doc(ref: str, examples: dict[str, Any]) -> dict[str, Any]:
        """OpenAPI for a body validated by hand (FastAPI does not see its model)."""
        return {
            "parameters": [max_reasons_param],
            "requestBody": {
                "required": True,
                "content": {
                    _JSON: {
                        "schema": {"$ref": f"#/components/schemas/{ref}"},
                        "examples": examples,
                    }
                },
            },
            "security": [{"ApiKey": []}],
        }

    # The scoring routes take the raw body and validate it with pydantic-core's JSON parser:
    # FastAPI's generic body/dependency machinery costs more than the validation itself.
    def parse(
        api_key: str | None, query: bytes, body: bytes, model: type[BaseModel]
    ) -> tuple[BaseModel, int]:
        """Check the scoring key, then validate ``max_reasons`` and the body (422 with fields)."""
        keys.check_scoring(api_key)
        limit = settings.max_reasons
        raw_limit = QueryParams(query).get("max_reasons") if query else None
        errors: list[dict[str, Any]] = []
        if raw_limit is not None:
            if raw_limit.isdigit() and int(raw_limit) <= _MAX_REASONS_LIMIT:
                limit = int(raw_limit)
            else:
                errors.append(
                    {
                        "loc": ["query", "max_reasons"],
                        "msg": f"must be an integer from 0 to {_MAX_REASONS_LIMIT}",
                        "type": "value_error",
                    }
                )
        try:
            parsed = model.model_validate_json(body)
        except ValidationError as exc:
            errors += [
                {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_input=False)
            ]
        if errors:
            raise _InvalidRequest(errors)
        return parsed, limit

    @app.post(
        "/v1/score",
        response_model=ScoreResponse,
        responses=auth_responses,
        tags=["scoring"],
        summary="Score one loan application",
        openapi_extra=body_doc(
            APPLICATION_MODEL_NAME,
            {"applicant": {"summary": "A valid application", "value": example}},
        ),
    )
    async def score(request: Request) -> Response:
        """Probability of default, score points, decision and the top adverse reason codes."""
        scope = request.scope
        body, version = score_one(
            request.headers.get(API_KEY_HEADER), scope["query_string"], await request.body(), scope
        )
        return Response(body, media_type=_JSON, headers={"X-Model-Version": version})

    def score_one(
        api_key: str | None, query: bytes, body: bytes, scope: Scope
    ) -> tuple[bytes, str]:
        """``POST /v1/score`` minus HTTP: the JSON answer and the version that gave it."""
        application, limit = parse(api_key, query, body, application_model)
        state = scope["state"]
        loaded = serving(state)
        record = application.model_dump()
        result = loaded.model.score([record], max_reasons=limit)[0]
        rid = state["request_id"]
        log_rows(state, loaded, [record], [result], [rid])
        out = result_dict(result)
        out.update(request_id=rid, model_name=loaded.name, model_version=loaded.version)
        return orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY), loaded.version

    async def score_direct(scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /v1/score`` without the router or Starlette's request/response objects: the
        same answer (status, body, headers) as the routed endpoint, errors through the same
        exception handlers."""
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        api_key = None
        for key, value in scope["headers"]:
            if key == _API_KEY_HEADER_RAW:
                api_key = value.decode("latin-1")
                break
        try:
            body, version = score_one(api_key, scope["query_string"], b"".join(chunks), scope)
        except (_InvalidRequest, HTTPException) as exc:
            request = Request(scope, receive, send)
            response = await (
                _invalid_request(request, exc)
                if isinstance(exc, _InvalidRequest)
                else _http_error(request, exc)
            )
            await response(scope, receive, send)
            return
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

    fast_routes[("POST", "/v1/score")] = (
        next(r for r in app.router.routes if getattr(r, "path", None) == "/v1/score"),
        score_direct,
    )

    @app.post(
        "/v1/score/batch",
        response_model=BatchResponse,
        responses=auth_responses,
        tags=["scoring"],
        summary="Score many loan applications",
        openapi_extra=body_doc(
            BATCH_MODEL_NAME,
            {
                "two": {
                    "summary": "Two applications",
                    "value": {"applications": [example, example]},
                }
            },
        ),
    )
    async def score_batch(request: Request) -> Response:
        """Score up to ``max_batch_size`` applications with one model version (vectorised)."""
        scope = request.scope
        api_key = request.headers.get(API_KEY_HEADER)
        batch, limit = parse(api_key, scope["query_string"], await request.body(), batch_model)
        loaded = serving(scope["state"])
        records: list[dict[str, Any]] = batch.model_dump()["applications"]
        if len(records) > _THREAD_BATCH_ROWS:
            results = await anyio.to_thread.run_sync(
                lambda: loaded.model.score(records, max_reasons=limit)
            )
        else:
            results = loaded.model.score(records, max_reasons=limit)
        rid = request.state.request_id
        metrics.batch_size.observe(len(records))
        log_rows(
            scope["state"], loaded, records, results, [f"{rid}-{i}" for i in range(len(records))]
        )
        items = []
        for i, res in enumerate(results):
            item = result_dict(res)
            item["index"] = i
            items.append(item)
        body = {
            "request_id": rid,
            "model_name": loaded.name,
            "model_version": loaded.version,
            "count": len(items),
            "results": items,
        }
        return _json(body, headers={"X-Model-Version": loaded.version})

    @app.get(
        "/v1/model",
        response_model=ModelInfo,
        responses={401: auth_responses[401], 503: auth_responses[503]},
        tags=["model"],
        summary="The model version being served",
        dependencies=[Depends(require_scoring_key)],
    )
    async def model_info(request: Request) -> Response:
        """Name, version, alias, run id, key metrics and load time of the served version."""
        loaded = serving(request.scope["state"])
        return _json(
            {
                "name": loaded.name,
                "version": loaded.version,
                "alias": loaded.alias,
                "run_id": loaded.run_id,
                "metrics": loaded.metrics,
                "loaded_at": loaded.loaded_at,
                "source": loaded.source,
            }
        )

    @app.post(
        "/v1/admin/reload",
        response_model=ReloadResponse,
        responses={
            401: {"description": "Missing or invalid admin key."},
            403: {"description": "No admin key configured."},
            409: {"description": "Reload failed; the previous version keeps serving."},
        },
        tags=["admin"],
        summary="Reload the aliased version now",
        dependencies=[Depends(require_admin_key)],
    )
    async def admin_reload(request: Request) -> Response:
        """Resolve the alias and swap in its version if it changed (retrying refused ones)."""
        result = await request.app.state.manager.reload(trigger="admin", force=True)
        code = status.HTTP_409_CONFLICT if result.outcome == "failed" else status.HTTP_200_OK
        return _json(
            {
                "outcome": result.outcome,
                "previous_version": result.previous_version,
                "version": result.version,
                "detail": result.detail,
            },
            code,
        )

    @app.post(
        "/v1/webhooks/mlflow",
        status_code=status.HTTP_202_ACCEPTED,
        responses={
            200: {"description": "Event ignored (another model or alias)."},
            400: {"description": "Body is not an MLflow webhook payload."},
            401: {"description": "Missing, stale or invalid signature."},
            403: {"description": "No webhook secret configured."},
        },
        tags=["admin"],
        summary="Receiver for MLflow registry webhooks (alias events trigger a reload)",
    )
    async def mlflow_webhook(request: Request) -> Response:
        """Verify the HMAC signature; on this model's served alias, reload now."""
        body = await request.body()
        secret = settings.webhook_secret
        if secret is not None:
            try:
                delivery = webhook.verify(secret.get_secret_value(), request.headers, body)
            except webhook.WebhookAuthError as exc:
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=str(exc)) from exc
        elif settings.auth_disabled:
            delivery = request.headers.get(webhook.DELIVERY_ID_HEADER, "unsigned")
        else:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail="webhooks are disabled: CREDIT_SCORING_WEBHOOK_SECRET is not set",
            )
        try:
            event = orjson.loads(body)
            entity, action, data = event["entity"], event["action"], event.get("data") or {}
            if not isinstance(data, dict):
                raise TypeError("data is not an object")
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, detail=f"not an MLflow webhook payload: {exc}"
            ) from exc
        relevant = (
            entity == "model_version_alias"
            and data.get("name") == settings.model_name
            and data.get("alias") == settings.serve_alias
        )
        logger.info(
            "mlflow webhook %s.%s (delivery %s): %s",
            entity,
            action,
            delivery,
            "reloading" if relevant else "ignored",
        )
        if not relevant:
            return _json({"status": "ignored"}, status.HTTP_200_OK)
        request.app.state.manager.trigger()
        return _json({"status": "accepted"}, status.HTTP_202_ACCEPTED)

    @app.get("/healthz", response_model=StatusOut, tags=["ops"], summary="Liveness")
    async def healthz() -> Response:
        """Always 200 while the process serves HTTP."""
        return _json({"status": "ok"})

    @app.get(
        "/readyz",
        response_model=StatusOut,
        responses={503: {"description": "No model loaded yet.", "model": StatusOut}},
        tags=["ops"],
        summary="Readiness: 200 only while a model is loaded",
    )
    async def readyz(request: Request) -> Response:
        """200 with the served version once a model is loaded, else 503 with the reason."""
        manager: ModelManager = request.app.state.manager
        loaded = manager.current
        if loaded is None:
            return _json(
                {"status": "not_ready", "detail": manager.last_error},
                status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return _json({"status": "ready", "model_version": loaded.version})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            ref = "#/components/schemas/{model}"
            schemas[APPLICATION_MODEL_NAME] = application_model.model_json_schema(ref_template=ref)
            batch_schema = batch_model.model_json_schema(ref_template=ref)
            batch_schema.pop("$defs", None)
            schemas[BATCH_MODEL_NAME] = batch_schema
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
