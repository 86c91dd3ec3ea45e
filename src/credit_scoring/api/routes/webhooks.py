"""``POST /v1/webhooks/mlflow``: MLflow registry webhooks; this model's alias events reload now."""

from __future__ import annotations

import logging

import orjson
from fastapi import APIRouter, HTTPException, Request, Response, status

from credit_scoring.api import webhook
from credit_scoring.api.deps import ApiDep
from credit_scoring.api.responses import json_response

logger = logging.getLogger("credit_scoring.api")

router = APIRouter()


@router.post(
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
async def mlflow_webhook(request: Request, api: ApiDep) -> Response:
    """Verify the HMAC signature; on this model's served alias, reload now."""
    body = await request.body()
    settings = api.settings
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
        return json_response({"status": "ignored"}, status.HTTP_200_OK)
    assert api.manager is not None
    api.manager.trigger()
    return json_response({"status": "accepted"}, status.HTTP_202_ACCEPTED)
