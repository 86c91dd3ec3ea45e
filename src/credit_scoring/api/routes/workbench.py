"""The loan-officer workbench (``/ui``) wired to the app's state; the pages themselves are in
:mod:`credit_scoring.workbench.routes`."""

from __future__ import annotations

from fastapi import APIRouter

from credit_scoring.api.state import ApiState
from credit_scoring.workbench.routes import workbench_router


def router_for(api: ApiState) -> APIRouter:
    """The ``/ui`` pages of one app: its model, ledger, metrics and schema."""
    return workbench_router(
        api.settings,
        api.schema,
        api.application_model,
        api.example,
        current=lambda _: api.current,
        ledger=lambda _: api.ledger,
        overrides=lambda _: api.overrides,
        on_scored=lambda _, decision, version: api.metrics.decision(decision, version).inc(),
    )
