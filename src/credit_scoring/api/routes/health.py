"""``GET``/``HEAD /healthz`` (liveness) and ``/readyz`` (readiness: a model is loaded; the
detail names a version the alias points at that was refused while the previous one serves)."""

from __future__ import annotations

from typing import Any

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
    body: dict[str, Any] = {"status": "ready", "model_version": loaded.version}
    if manager.refused is not None:
        # Ready (the previous version serves) but the alias points at a version refused.
        body["detail"] = manager.last_error
        body["refused_version"] = manager.refused
    return json_response(body)


# HEAD on both (load balancers and uptime checks use it); not listed twice in OpenAPI.
for _path, _endpoint in (("/healthz", healthz), ("/readyz", readyz)):
    router.add_api_route(_path, _endpoint, methods=["HEAD"], include_in_schema=False)
