"""Decisions people can audit and override, and what would change them.

``GET /v1/decisions/{id}`` (auditor), ``POST /v1/decisions/{id}/review`` (officer),
``GET /v1/decisions/{id}/notice`` (officer or auditor) and ``POST /v1/counterfactual`` (scoring
or officer). The logic lives in :mod:`credit_scoring.decisions` and
:mod:`credit_scoring.scoring.counterfactual`; the workbench pages call the same functions.
"""

from __future__ import annotations

from typing import Any, Literal

import anyio
from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, ValidationError

from credit_scoring.api.deps import ApiDep, AuditorKey, OfficerKey, ReaderKey, ScoringKey
from credit_scoring.api.responses import InvalidRequest, json_response
from credit_scoring.api.state import ApiState
from credit_scoring.decisions.explanation import decision_view
from credit_scoring.decisions.notice import NoticeUnavailable, render_notice
from credit_scoring.decisions.review import review_decision
from credit_scoring.ledger import DecisionHistory, InvalidRecord, UnknownDecision
from credit_scoring.predictions.record import APPLICATION_KEY
from credit_scoring.scoring.counterfactual import counterfactuals
from credit_scoring.scoring.model import CreditModel
from credit_scoring.scoring.scaling import ScoreScaling

router = APIRouter(tags=["decisions"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No decision with this id."}}
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid API key (or not of the needed role)."}
}


class ReviewIn(BaseModel):
    """A person's final decision on a scored application."""

    final_decision: Literal["approve", "decline"]
    reviewer: str = Field(min_length=1, max_length=200, description="Who decided.")
    reason: str = Field(min_length=1, max_length=2000, description="Why (printed on notices).")


class ReviewOut(BaseModel):
    """The stored review: a new ledger entry linked to the decision."""

    review_id: str
    decision_id: str
    ts: str
    final_decision: str
    original_decision: str
    reviewer: str
    reason: str
    seq: int
    hash: str


class ChangeOut(BaseModel):
    feature: str
    label: str
    current: Any
    suggested: Any
    points: float = Field(description="Score points this change adds.")


class SuggestionOut(BaseModel):
    target: Literal["approve", "review"]
    changes: list[ChangeOut]
    probability: float = Field(description="PD re-scored by the model with the changes.")
    score: float
    decision: str


class CounterfactualOut(BaseModel):
    """What would change the decision, each suggestion re-scored by the model."""

    model_name: str
    model_version: str
    decision: str
    probability: float
    score: float
    available: bool = Field(description="False for a model with feature interactions.")
    exact: bool
    note: str
    suggestions: list[SuggestionOut]


async def _history(api: ApiState, decision_id: str) -> DecisionHistory:
    history = await anyio.to_thread.run_sync(api.ledger.get, decision_id)
    if history is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no decision {decision_id!r}")
    return history


def _scaling(api: ApiState, version: str) -> ScoreScaling | None:
    loaded = api.manager.current if api.manager is not None else None
    if loaded is not None and loaded.version == version:
        return getattr(loaded.model, "scaling", None)
    return None


@router.get(
    "/v1/decisions/{decision_id}",
    responses={**_AUTH, **_NOT_FOUND},
    summary="A decision: the record, its reviews and an explanation",
    dependencies=[AuditorKey],
)
async def get_decision(decision_id: str, api: ApiDep) -> Response:
    """The ledger record (inputs, PD, points, band, reasons, model version, hash), the reviews
    linked to it, the decision in force and an explanation in words."""
    history = await _history(api, decision_id)
    version = str(history.decision.body["model_version"])
    return json_response(decision_view(history, _scaling(api, version)))


@router.post(
    "/v1/decisions/{decision_id}/review",
    response_model=ReviewOut,
    status_code=status.HTTP_201_CREATED,
    responses={**_AUTH, **_NOT_FOUND},
    summary="Record a person's final decision (a new ledger entry, never an edit)",
    dependencies=[OfficerKey],
)
async def review(decision_id: str, body: ReviewIn, api: ApiDep) -> Response:
    """Approve or decline a scored application; counted in the override metrics."""
    try:
        entry = await anyio.to_thread.run_sync(
            lambda: review_decision(
                api.ledger,
                decision_id,
                final_decision=body.final_decision,
                reviewer=body.reviewer,
                reason=body.reason,
                role="officer",
                channel="api",
                metrics=api.overrides,
            )
        )
    except UnknownDecision as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except InvalidRecord as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    return json_response(
        {**entry.body, "seq": entry.seq, "hash": entry.hash}, status.HTTP_201_CREATED
    )


@router.get(
    "/v1/decisions/{decision_id}/notice",
    response_class=HTMLResponse,
    responses={**_AUTH, **_NOT_FOUND, 409: {"description": "The decision is not a decline."}},
    summary="The adverse action notice of a decline (printable HTML)",
    dependencies=[ReaderKey],
)
async def notice(decision_id: str, api: ApiDep) -> Response:
    """Principal reasons (at most four), score and range, dates, model version, rights."""
    history = await _history(api, decision_id)
    version = str(history.decision.body["model_version"])
    settings = api.settings
    scaling = _scaling(api, version) or settings.scaling
    try:
        html = render_notice(history, scaling, settings.lender_name)
    except NoticeUnavailable as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return HTMLResponse(html)


@router.post(
    "/v1/counterfactual",
    response_model=CounterfactualOut,
    responses={**_AUTH, 422: {"description": "Invalid application (fields in `detail`)."}},
    summary="What would change the decision: smallest changes to a better band",
    dependencies=[ScoringKey],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Application"}}
            },
        }
    },
)
async def counterfactual(request: Request, api: ApiDep) -> Response:
    """Exact for the additive model (per-feature lookup tables); immutable and protected
    features are never changed; every suggestion is re-scored by the model."""
    try:
        application = api.application_model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise InvalidRequest(
            [
                {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_input=False)
            ]
        ) from exc
    loaded = api.serving(request.scope["state"])
    model = loaded.model
    if not isinstance(model, CreditModel):
        raise HTTPException(status.HTTP_501_NOT_IMPLEMENTED, detail="model has no lookup tables")
    record = application.model_dump(exclude={APPLICATION_KEY})
    cf = await anyio.to_thread.run_sync(lambda: counterfactuals(model, record, schema=api.schema))
    return json_response(
        {
            "model_name": loaded.name,
            "model_version": loaded.version,
            "decision": cf.decision,
            "probability": cf.probability,
            "score": cf.score,
            "available": cf.available,
            "exact": cf.exact,
            "note": cf.note,
            "suggestions": [
                {
                    "target": s.target,
                    "changes": [vars(c) for c in s.changes],
                    "probability": s.probability,
                    "score": s.score,
                    "decision": s.decision,
                }
                for s in cf.suggestions
            ],
        }
    )
