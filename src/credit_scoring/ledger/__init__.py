"""Decision ledger: every scored application and every human review, append-only and hash-chained.

The API's prediction log *is* this ledger (one source of truth, see docs/architecture.md):

    from credit_scoring.ledger import open_ledger
    store = open_ledger(settings)          # PostgreSQL if a database URL is set, else SQLite
    store.append([record, ...])            # decision records, idempotent on decision_id
    store.get(decision_id)                 # DecisionHistory(decision, reviews) or None
    store.add_review(decision_id, final_decision="approve", reviewer="...", reason="...")
    store.verify()                         # VerifyResult(ok, problems, ...)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from credit_scoring.ledger.records import (
    DECISION_FIELDS,
    REVIEW_DECISIONS,
    AppendResult,
    DecisionHistory,
    InvalidRecord,
    LedgerEntry,
    LedgerError,
    UnknownDecision,
    VerifyResult,
)
from credit_scoring.ledger.store import LedgerStore

if TYPE_CHECKING:
    from credit_scoring.config import Settings

__all__ = [
    "DECISION_FIELDS",
    "REVIEW_DECISIONS",
    "AppendResult",
    "DecisionHistory",
    "InvalidRecord",
    "LedgerEntry",
    "LedgerError",
    "LedgerStore",
    "UnknownDecision",
    "VerifyResult",
    "open_ledger",
]


def open_ledger(settings: Settings) -> LedgerStore:
    """The configured store: PostgreSQL when ``database_url`` is set, else ``<home>/ledger.db``."""
    if settings.database_url is not None:
        from credit_scoring.ledger.postgres import PostgresLedgerStore

        return PostgresLedgerStore(settings.database_url.get_secret_value())
    from credit_scoring.ledger.embedded import EmbeddedLedgerStore

    return EmbeddedLedgerStore(settings.ledger_path)
