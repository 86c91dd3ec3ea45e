"""Logged decisions looked up by id: what outcomes join to.

The decisions are the decision ledger's ``decision`` entries (:mod:`credit_scoring.ledger`:
PostgreSQL when a database URL is set, else ``<home>/ledger.db``); a decision id is the one the
API answered (``decision_id``: the request id for ``/v1/score``, ``<id>-<i>`` for the i-th
application of a batch). A lender that sends its application key as ``X-Request-ID`` gets that
key as the decision id. Records still in an API's spool (database down) are found once shipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from credit_scoring.config import Settings
from credit_scoring.ledger import open_ledger


@dataclass(frozen=True)
class LoggedDecision:
    decision_id: str
    ts: datetime
    model_version: str


def find_decisions(settings: Settings, ids: Iterable[str]) -> dict[str, LoggedDecision]:
    """The ledger's decisions of the settings' model among ``ids``."""
    wanted = list(ids)
    if not wanted:
        return {}
    store = open_ledger(settings)
    try:
        entries = store.decisions(wanted)
    finally:
        store.close()
    return {
        did: LoggedDecision(did, e.ts.astimezone(UTC), str(e.body["model_version"]))
        for did, e in entries.items()
        if e.body.get("model_name") == settings.model_name
    }
