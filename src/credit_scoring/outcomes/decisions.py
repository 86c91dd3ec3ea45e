"""Logged decisions looked up by id: what outcomes join to.

The decisions are the decision ledger's ``decision`` entries (:mod:`credit_scoring.ledger`:
PostgreSQL when a database URL is set, else ``<home>/ledger.db``); a decision id is the one the
API answered (``decision_id``: the request id for ``/v1/score``, ``<id>-<i>`` for the i-th
application of a batch), or by application key (``application_key``, sent by the lender with
each application: :func:`find_decisions_by_key`, every decision of each key, oldest first).
Records still in an API's spool (database down) are found once shipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from credit_scoring.config import Settings
from credit_scoring.ledger import LedgerStore, open_ledger

T = TypeVar("T")


@dataclass(frozen=True)
class LoggedDecision:
    decision_id: str
    ts: datetime
    model_version: str


def _read(settings: Settings, query: Callable[[LedgerStore], T]) -> T:
    store = open_ledger(settings)
    try:
        return query(store)
    finally:
        store.close()


def find_decisions(settings: Settings, ids: Iterable[str]) -> dict[str, LoggedDecision]:
    """The ledger's decisions of the settings' model among ``ids``."""
    wanted = list(ids)
    if not wanted:
        return {}
    entries = _read(settings, lambda store: store.decisions(wanted))
    return {
        did: LoggedDecision(did, e.ts.astimezone(UTC), str(e.body["model_version"]))
        for did, e in entries.items()
        if e.body.get("model_name") == settings.model_name
    }


def find_decisions_by_key(
    settings: Settings, keys: Iterable[str]
) -> dict[str, list[LoggedDecision]]:
    """The ledger's decisions of the settings' model carrying each of ``keys`` as
    ``application_key``, oldest first."""
    wanted = list(keys)
    if not wanted:
        return {}
    entries = _read(settings, lambda store: store.decisions_by_key(wanted))
    found: dict[str, list[LoggedDecision]] = {}
    for key, decided in entries.items():
        mine = [
            LoggedDecision(e.decision_id, e.ts.astimezone(UTC), str(e.body["model_version"]))
            for e in decided
            if e.body.get("model_name") == settings.model_name
        ]
        if mine:
            found[key] = sorted(mine, key=lambda d: d.ts)
    return found
