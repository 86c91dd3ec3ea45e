"""``GET /metrics``: Prometheus text exposition (not in the OpenAPI document)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from credit_scoring.api.deps import ApiDep
from credit_scoring.api.metrics import CONTENT_TYPE_LATEST

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def prometheus(api: ApiDep) -> Response:
    return Response(api.metrics.render(), media_type=CONTENT_TYPE_LATEST)
