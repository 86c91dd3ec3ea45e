"""``GET /v1/model`` (the served version) and ``POST /v1/admin/reload`` (reload it now)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from credit_scoring.api.deps import AdminKey, Manager, ScoringKey, ServedModel
from credit_scoring.api.responses import json_response
from credit_scoring.api.schemas import ModelInfo, ReloadResponse

router = APIRouter()


@router.get(
    "/v1/model",
    response_model=ModelInfo,
    responses={
        401: {"description": "Missing or invalid API key."},
        503: {"description": "No model loaded yet."},
    },
    tags=["model"],
    summary="The model version being served",
    dependencies=[ScoringKey],
)
async def model_info(loaded: ServedModel) -> Response:
    """Name, version, alias, run id, key metrics and load time of the served version."""
    return json_response(
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


@router.post(
    "/v1/admin/reload",
    response_model=ReloadResponse,
    responses={
        401: {"description": "Missing or invalid admin key."},
        403: {"description": "No admin key configured."},
        409: {"description": "Reload failed; the previous version keeps serving."},
    },
    tags=["admin"],
    summary="Reload the aliased version now",
    dependencies=[AdminKey],
)
async def admin_reload(manager: Manager) -> Response:
    """Resolve the alias and swap in its version if it changed (retrying refused ones)."""
    result = await manager.reload(trigger="admin", force=True)
    code = status.HTTP_409_CONFLICT if result.outcome == "failed" else status.HTTP_200_OK
    return json_response(
        {
            "outcome": result.outcome,
            "previous_version": result.previous_version,
            "version": result.version,
            "detail": result.detail,
        },
        code,
    )
