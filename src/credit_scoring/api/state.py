"""What the API's routes share, built once per app: :class:`ApiState`, reached as ``app.state.api``.

Routes get it through :func:`credit_scoring.api.deps.get_api` (or ``scope["app"].state.api`` in
the plain ASGI scoring routes); nothing else holds app-wide state. Per-request values (request
id, start time, the model version that answered) live in the ASGI scope's ``state``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import anyio
from fastapi import HTTPException, status
from pydantic import BaseModel

from credit_scoring.api.auth import KeyChecker
from credit_scoring.api.metrics import ApiMetrics
from credit_scoring.api.model_manager import LoadedModel, ModelManager
from credit_scoring.api.score_psi import ScoreWindow
from credit_scoring.api.shadow import ShadowScorer
from credit_scoring.api.slow_clients import STATE_KEY
from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.decisions.review import OverrideMetrics
from credit_scoring.ledger import LedgerStore
from credit_scoring.ledger.recorder import DecisionRecorder

logger = logging.getLogger("credit_scoring.api")


def bundled_schema_path() -> Path:
    """The bundled German Credit feature schema (the API's default request schema)."""
    return Path(str(files("credit_scoring") / "data" / "bundled" / "german_credit.schema.yaml"))


@dataclass(eq=False)
class ApiState:
    """Settings, request models, keys, metrics, the decision recorder (its ledger store is read
    by the decision routes, written by the workbench and reviews), override metrics and the
    model manager."""

    settings: Settings
    schema: FeatureSchema
    example: dict[str, Any]
    application_model: type[BaseModel]
    batch_model: type[BaseModel]
    keys: KeyChecker
    metrics: ApiMetrics
    recorder: DecisionRecorder
    new_manager: Callable[[], ModelManager]
    overrides: OverrideMetrics
    #: Builds the shadow challenger when ``CREDIT_SCORING_SHADOW_ALIAS`` is set.
    new_shadow: Callable[[], ShadowScorer] | None = None
    #: Set while the app runs (:meth:`running`); a new one per lifespan.
    manager: ModelManager | None = field(default=None, init=False)
    shadow: ShadowScorer | None = field(default=None, init=False)

    def serving(self, request_state: dict[str, Any]) -> LoadedModel:
        """The loaded model (503 before the first load); records its version on the request."""
        loaded = self.manager.current if self.manager is not None else None
        if loaded is None:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail="no model loaded yet: " + (self.last_error or ""),
                headers={"Retry-After": "5"},
            )
        request_state["model_version"] = loaded.version
        return loaded

    @property
    def ledger(self) -> LedgerStore:
        """The decision ledger's store (the one the recorder ships to)."""
        return self.recorder.store

    @property
    def current(self) -> LoadedModel | None:
        """The served model, or None (no 503: for pages that say so themselves)."""
        return self.manager.current if self.manager is not None else None

    def served_score_window(self) -> tuple[str, ScoreWindow | None] | None:
        """The served version and its score PSI window (read at scrape time)."""
        loaded = self.current
        return None if loaded is None else (loaded.version, loaded.score_window)

    @property
    def last_error(self) -> str | None:
        """Why no model is served (None once one is)."""
        return self.manager.last_error if self.manager is not None else "not started"

    @asynccontextmanager
    async def running(self) -> AsyncIterator[dict[str, Any]]:
        """Start the decision recorder (spool + shipper) and the model manager; on exit stop
        them: the spool is fsync'd, the shipper gets ``ledger_shutdown_timeout_s`` to ship the
        rest (what remains is shipped by the next process). Yields the lifespan state."""
        manager = self.manager = self.new_manager()
        # The database is never waited for here: records go to the spool, the shipper retries.
        await anyio.to_thread.run_sync(self.recorder.start)
        manager.start()
        shadow = self.shadow = self.new_shadow() if self.new_shadow is not None else None
        if shadow is not None:
            await self._start_shadow(shadow)
        settings = self.settings
        logger.info(
            "scoring API started: serving models:/%s@%s from %s",
            settings.model_name,
            settings.serve_alias,
            settings.resolved_tracking_uri,
        )
        try:
            yield {STATE_KEY: self.slow_client}
        finally:
            await manager.stop()
            if shadow is not None:
                await shadow.manager.stop()
                await anyio.to_thread.run_sync(shadow.close)
                self.shadow = None
            shipped = await anyio.to_thread.run_sync(self.recorder.close)
            logger.info(
                "scoring API stopped; decision records %s",
                "all stored in the ledger" if shipped else "kept in the spool for the next start",
            )

    async def _start_shadow(self, shadow: ShadowScorer) -> None:
        # The shadow log's table is created by its writer on its first batch (its own thread).
        shadow.start()
        shadow.manager.start()
        logger.info(
            "shadow challenger: models:/%s@%s on %.0f%% of requests (never returned)",
            self.settings.model_name,
            shadow.manager.alias,
            100 * shadow.fraction,
        )

    def slow_client(self, phase: str) -> None:
        """Count a client cut off for sending its headers or body too slowly."""
        self.metrics.slow_clients.labels(phase).inc()
