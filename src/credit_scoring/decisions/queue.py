"""The review queue: decisions in the "review" band that no person has reviewed yet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from credit_scoring.ledger import LedgerEntry, LedgerStore

#: How far back the queue looks (older unreviewed cases are for the audit, not the queue).
QUEUE_DAYS = 30


def pending_reviews(
    store: LedgerStore, *, limit: int = 100, now: datetime | None = None
) -> list[LedgerEntry]:
    """Unreviewed "review" decisions of the last :data:`QUEUE_DAYS` days, oldest first."""
    end = (now or datetime.now(UTC)) + timedelta(seconds=1)
    start = end - timedelta(days=QUEUE_DAYS)
    reviewed = {e.decision_id for e in store.entries(start, end, kind="review")}
    cases = store.entries(start, end, kind="decision", decision="review")
    return [e for e in cases if e.decision_id not in reviewed][:limit]
