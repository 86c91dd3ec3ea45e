"""FastAPI dependencies: the app's shared state, key checks and the served model.

All are ``async`` so that FastAPI runs them on the event loop instead of a thread-pool hop.
Use them as annotated parameters (``api: ApiDep``, ``loaded: ServedModel``) or in a route's
``dependencies=[ScoringKey]``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security

from credit_scoring.api.auth import api_key_scheme
from credit_scoring.api.model_manager import LoadedModel, ModelManager
from credit_scoring.api.state import ApiState


async def get_api(request: Request) -> ApiState:
    """The app's :class:`ApiState`."""
    api: ApiState = request.app.state.api
    return api


ApiDep = Annotated[ApiState, Depends(get_api)]
ApiKey = Annotated[str | None, Security(api_key_scheme)]


async def require_scoring_key(api: ApiDep, key: ApiKey = None) -> None:
    """The request carries a valid scoring key (or the admin key); else 401."""
    api.keys.check_scoring(key)


async def require_admin_key(api: ApiDep, key: ApiKey = None) -> None:
    """The request carries the admin key; else 401 (403 when none is configured)."""
    api.keys.check_admin(key)


async def require_officer_key(api: ApiDep, key: ApiKey = None) -> None:
    """The request carries an officer key (or the admin key); else 401."""
    api.keys.check_role(key, "officer")


async def require_auditor_key(api: ApiDep, key: ApiKey = None) -> None:
    """The request carries an auditor key (or the admin key); else 401."""
    api.keys.check_role(key, "auditor")


async def require_reader_key(api: ApiDep, key: ApiKey = None) -> None:
    """The request carries an officer or auditor key (or the admin key); else 401."""
    api.keys.check_role(key, "officer", "auditor")


ScoringKey = Depends(require_scoring_key)
AdminKey = Depends(require_admin_key)
OfficerKey = Depends(require_officer_key)
AuditorKey = Depends(require_auditor_key)
ReaderKey = Depends(require_reader_key)


async def get_manager(api: ApiDep) -> ModelManager:
    """The running model manager."""
    assert api.manager is not None, "the app's lifespan has not started"
    return api.manager


Manager = Annotated[ModelManager, Depends(get_manager)]


async def served_model(request: Request, api: ApiDep) -> LoadedModel:
    """The model version being served (503 before the first load)."""
    return api.serving(request.scope["state"])


ServedModel = Annotated[LoadedModel, Depends(served_model)]
