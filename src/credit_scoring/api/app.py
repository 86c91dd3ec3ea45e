"""The FastAPI scoring service: ``create_app(settings)`` builds it, nothing happens at import.

Run it with ``credit-scoring serve`` or ``uvicorn --factory credit_scoring.api.app:create_app``
(the factory reads settings from the environment). The request path, file by file: the
middlewares (:mod:`~credit_scoring.api.middleware`), the router, a route module
(:mod:`~credit_scoring.api.routes`), the scoring service (:mod:`~credit_scoring.api.service`),
the served model (:mod:`~credit_scoring.api.model_manager`) and the decision recorder
(:mod:`credit_scoring.ledger.recorder`: spool, shipper, ledger); the app class drops FastAPI's
idle layers (:mod:`~credit_scoring.api.stack`). Shared state:
:class:`~credit_scoring.api.state.ApiState`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.telemetry import TelemetryConfig

from credit_scoring.api import middleware
from credit_scoring.api.auth import KeyChecker
from credit_scoring.api.logs import configure_logging
from credit_scoring.api.metrics import ApiMetrics
from credit_scoring.api.model_manager import ModelManager, ModelSource, ScoringModel
from credit_scoring.api.offline_docs import docs_router
from credit_scoring.api.responses import add_exception_handlers
from credit_scoring.api.routes import routers, scoring, workbench
from credit_scoring.api.schemas import (
    APPLICATION_MODEL_NAME,
    BATCH_MODEL_NAME,
    build_application_model,
    build_batch_model,
    example_application,
)
from credit_scoring.api.score_psi import ScorePsiCollector
from credit_scoring.api.shadow import ShadowScorer
from credit_scoring.api.slow_clients import BodyTimeoutMiddleware
from credit_scoring.api.stack import ScoringFastAPI
from credit_scoring.api.state import ApiState, bundled_schema_path
from credit_scoring.config import Settings, get_settings
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.decisions.review import OverrideMetrics
from credit_scoring.ledger.metrics import LedgerCollector
from credit_scoring.ledger.recorder import open_recorder
from credit_scoring.predictions.shadow import ShadowLogWriter

__all__ = ["bundled_schema_path", "create_app"]


def create_app(
    settings: Settings | None = None,
    *,
    source_factory: Callable[[], ModelSource] | None = None,
    loader: Callable[[Path], ScoringModel] | None = None,
    shadow_source_factory: Callable[[], ModelSource] | None = None,
) -> FastAPI:
    """Build the scoring API; refuses (``AuthConfigError``) when no key is configured.

    ``source_factory``/``loader`` replace the MLflow registry and the ``CreditModel`` loader
    (used by unit tests; ``shadow_source_factory`` is the shadow's, default ``source_factory``);
    by default the app serves ``models:/<model_name>@<serve_alias>`` and, with ``shadow_alias``,
    also scores ``models:/<model_name>@<shadow_alias>`` in the shadow
    (:mod:`credit_scoring.api.shadow`).
    """
    settings = settings or get_settings()
    configure_logging(settings.api_log_level)
    api = build_state(
        settings,
        source_factory=source_factory,
        loader=loader,
        shadow_source_factory=shadow_source_factory,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with api.running() as state:
            yield state

    app = ScoringFastAPI(
        title="Credit scoring API",
        version="1",
        summary="Probability of default, score points, decision and reason codes.",
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry checks its providers on every request; off unless asked.
        telemetry=_telemetry(settings.api_opentelemetry),
        # /docs is served from the package (offline_docs), not from a CDN; no /redoc.
        docs_url=None,
        redoc_url=None,
    )
    app.state.api = api
    # add_middleware wraps: the last added runs first.
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=settings.api_body_timeout_s)
    app.add_middleware(middleware.BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(middleware.TelemetryMiddleware, metrics=api.metrics)
    app.add_middleware(middleware.RequestIdMiddleware)
    add_exception_handlers(app)
    scoring.add_routes(app.router)
    for router in routers:
        app.include_router(router)
    app.include_router(docs_router(app.title, app.openapi_url or "/openapi.json"))
    app.include_router(workbench.router_for(api))
    app.openapi = partial(openapi, app, api)  # type: ignore[method-assign]
    return app


def _telemetry(enabled: bool) -> TelemetryConfig:
    return {"tracing": enabled, "metrics": enabled, "logs": enabled}


def build_state(
    settings: Settings,
    *,
    source_factory: Callable[[], ModelSource] | None = None,
    loader: Callable[[Path], ScoringModel] | None = None,
    shadow_source_factory: Callable[[], ModelSource] | None = None,
) -> ApiState:
    """The app's shared state: request models from the feature schema, keys, metrics, the
    decision recorder (not started) and the model manager factory."""
    keys = KeyChecker(settings)
    schema = FeatureSchema.load(settings.api_schema_path or bundled_schema_path())
    example = example_application(schema)
    application_model = build_application_model(schema, example)
    metrics = ApiMetrics()
    # The shipper process logs as the API does (same format and level).
    recorder = open_recorder(settings, partial(configure_logging, settings.api_log_level))
    metrics.registry.register(LedgerCollector(recorder.stats))
    manager_kwargs: dict[str, Any] = {"source_factory": source_factory}
    if loader is not None:
        manager_kwargs["loader"] = loader
    shadow_alias = settings.shadow_alias

    def new_shadow() -> ShadowScorer:
        kwargs = dict(manager_kwargs)
        if shadow_source_factory is not None:
            kwargs["source_factory"] = shadow_source_factory
        manager = ModelManager(
            settings, schema, metrics, **kwargs, alias=shadow_alias, role="shadow"
        )
        return ShadowScorer(
            manager,
            ShadowLogWriter(settings),
            metrics,
            fraction=settings.shadow_fraction,
        )

    api = ApiState(
        settings=settings,
        schema=schema,
        example=example,
        application_model=application_model,
        batch_model=build_batch_model(application_model, settings.max_batch_size),
        keys=keys,
        metrics=metrics,
        recorder=recorder,
        new_manager=lambda: ModelManager(settings, schema, metrics, **manager_kwargs),
        new_shadow=new_shadow if shadow_alias else None,
        overrides=OverrideMetrics(metrics.registry, metrics.decisions),
    )
    metrics.registry.register(ScorePsiCollector(api.served_score_window))
    return api


def openapi(app: FastAPI, api: ApiState) -> dict[str, Any]:
    """FastAPI's document plus the hand-validated request bodies (built once)."""
    if app.openapi_schema is None:
        spec = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        scoring.document(spec, api)
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        ref = "#/components/schemas/{model}"
        schemas[APPLICATION_MODEL_NAME] = api.application_model.model_json_schema(ref_template=ref)
        batch_schema = api.batch_model.model_json_schema(ref_template=ref)
        batch_schema.pop("$defs", None)
        schemas[BATCH_MODEL_NAME] = batch_schema
        app.openapi_schema = spec
    return app.openapi_schema
