"""``POST /v1/outcomes``: record realised outcomes (defaults) of logged decisions (admin key).

The same intake as ``credit-scoring outcomes --data FILE`` (:mod:`credit_scoring.outcomes.intake`):
every item is recorded or rejected with a reason (duplicate, unknown, before_decision, late),
and the answer lists the rejected ids: ``received == recorded + rejected``.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import anyio
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from credit_scoring.api.deps import AdminKey, ApiDep
from credit_scoring.outcomes.intake import record_outcomes
from credit_scoring.outcomes.store import Outcome

router = APIRouter()


class OutcomeIn(BaseModel):
    """The realised outcome of one logged decision, named by its decision id or by the
    application key sent with the application (exactly one of the two)."""

    model_config = ConfigDict(extra="forbid")

    decision_id: str | None = Field(
        default=None, min_length=1, description="The decision id the scoring API answered."
    )
    application_key: str | None = Field(
        default=None,
        min_length=1,
        description="The application key sent when scoring: the outcome goes to the earliest "
        "of its decisions within the performance window before the observation date.",
    )
    defaulted: Literal[0, 1] = Field(description="1 when the loan defaulted, else 0.")
    observation_date: date = Field(description="When the outcome was observed (ISO date).")

    @model_validator(mode="after")
    def _one_id(self) -> OutcomeIn:
        if (self.decision_id is None) == (self.application_key is None):
            raise ValueError("give exactly one of decision_id and application_key")
        return self

    def outcome(self) -> Outcome:
        if self.application_key is not None:
            return Outcome("", self.defaulted, self.observation_date, self.application_key)
        assert self.decision_id is not None
        return Outcome(self.decision_id, self.defaulted, self.observation_date)


class OutcomesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcomes: list[OutcomeIn] = Field(min_length=1, max_length=100_000)


class OutcomesOut(BaseModel):
    """What happened to every item: ``received == recorded + rejected``."""

    source: str
    store: str
    received: int
    recorded: int
    rejected: int
    rejected_by_reason: dict[str, int]
    rejected_ids: dict[str, list[str]]


@router.post(
    "/v1/outcomes",
    response_model=OutcomesOut,
    responses={
        401: {"description": "Missing or invalid admin key."},
        403: {"description": "No admin key configured."},
        422: {"description": "Malformed item: the field-level errors are in `detail`."},
    },
    tags=["outcomes"],
    summary="Record realised outcomes of logged decisions",
    dependencies=[AdminKey],
)
async def post_outcomes(body: OutcomesIn, api: ApiDep) -> OutcomesOut:
    """Join each outcome to its logged decision and store it; rejected items are listed."""
    items = [o.outcome() for o in body.outcomes]
    report = await anyio.to_thread.run_sync(
        lambda: record_outcomes(api.settings, items, source="api")
    )
    return OutcomesOut(**report.as_dict())
