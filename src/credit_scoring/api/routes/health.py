"""``GET /healthz`` (liveness) and ``GET /readyz`` (readiness: a model is loaded)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from credit_scoring.api.deps import Manager
from credit_scoring.api.responses import json_response
from credit_scoring.api.schemas import StatusOut

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=StatusOut, summary="Liveness")
async def healthz() -> Response:
    """Always 200 while the process serves HTTP."""
    return json_response({"status": "ok"})


@router.get(
    "/readyz",
    response_model=StatusOut,
    responses={503: {"description": "No model loaded yet.", "model": StatusOut}},
    summary="Readiness: 200 only while a model is loaded",
)
async def readyz(manager: Manager) -> Response:
    """200 with the served version once a model is loaded, else 503 with the reason."""
    loaded = manager.current
    if loaded is None:
        return json_response(
            {"status": "not_ready", "detail": manager.last_error},
            status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return json_response({"status": "ready", "model_version": loaded.version})
