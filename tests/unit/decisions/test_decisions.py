"""Explanation, adverse action notice, review queue and override metrics over a real (SQLite)
decision ledger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from credit_scoring.decisions.explanation import decision_view
from credit_scoring.decisions.notice import NoticeUnavailable, notice_context, render_notice
from credit_scoring.decisions.queue import pending_reviews
from credit_scoring.decisions.review import OverrideMetrics, review_decision
from credit_scoring.ledger import InvalidRecord, UnknownDecision
from credit_scoring.ledger.embedded import EmbeddedLedgerStore
from credit_scoring.scoring.scaling import ScoreScaling

pytestmark = pytest.mark.unit

NOW = datetime.now(UTC)
REASONS = [
    {
        "feature": f"f{i}",
        "value": i,
        "contribution": 0.5,
        "points": -10.0 + i,
        "reason": f"Text {i}",
    }
    for i in range(5)
]


def record(i: int, decision: str, **extra: Any) -> dict[str, Any]:
    return {
        "decision_id": f"d-{i}",
        "ts": NOW - timedelta(minutes=10 - i),
        "model_name": "credit-scoring",
        "model_version": "7",
        "inputs": {"duration_in_month": 12 + i},
        "probability": {"approve": 0.05, "review": 0.3, "decline": 0.6}[decision],
        "score": {"approve": 640.0, "review": 560.0, "decline": 510.0}[decision],
        "decision": decision,
        "reasons": REASONS[:4],
        **extra,
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedLedgerStore]:
    s = EmbeddedLedgerStore(tmp_path / "ledger.db")
    s.append([record(0, "approve"), record(1, "review"), record(2, "review"), record(3, "decline")])
    yield s
    s.close()


def test_queue_lists_unreviewed_review_cases_oldest_first(store: EmbeddedLedgerStore) -> None:
    assert [e.decision_id for e in pending_reviews(store)] == ["d-1", "d-2"]
    review_decision(
        store,
        "d-1",
        final_decision="approve",
        reviewer="Ann",
        reason="ok",
        role="officer",
        channel="api",
    )
    assert [e.decision_id for e in pending_reviews(store)] == ["d-2"]
    old = record(9, "review", ts=NOW - timedelta(days=40))
    store.append([old])
    assert "d-9" not in [e.decision_id for e in pending_reviews(store)]


def test_review_is_a_new_linked_entry_and_counts_overrides(store: EmbeddedLedgerStore) -> None:
    registry = CollectorRegistry()
    decisions = Counter(
        "credit_scoring_decisions", "d", ["decision", "model_version"], registry=registry
    )
    decisions.labels("review", "7").inc(4)
    decisions.labels("decline", "7").inc(2)
    metrics = OverrideMetrics(registry, decisions)
    before = store.count()
    review_decision(
        store,
        "d-1",
        final_decision="decline",
        reviewer="Ann",
        reason="Debts",
        role="officer",
        channel="ui",
        metrics=metrics,
    )
    review_decision(
        store,
        "d-3",
        final_decision="decline",
        reviewer="Bob",
        reason="Agree",
        role="admin",
        channel="api",
        metrics=metrics,
    )  # a confirmation
    assert store.count() == before + 2
    history = store.get("d-1")
    assert history is not None and history.final_decision == "decline"
    assert history.decision.body["decision"] == "review"  # the original is never edited
    assert history.reviews[0].body["role"] == "officer"
    text = generate_latest(registry).decode()
    assert 'credit_scoring_decision_overrides_total{band="review",model_version="7"} 1.0' in text
    assert 'credit_scoring_override_rate{band="review",model_version="7"} 0.25' in text
    assert 'credit_scoring_override_rate{band="decline",model_version="7"} 0.0' in text
    assert (
        'credit_scoring_decision_reviews_total{band="decline",final_decision="decline",'
        'model_version="7"} 1.0' in text
    )
    with pytest.raises(UnknownDecision):
        review_decision(
            store,
            "nope",
            final_decision="approve",
            reviewer="A",
            reason="r",
            role="officer",
            channel="api",
        )
    with pytest.raises(InvalidRecord, match="final_decision"):
        review_decision(
            store,
            "d-2",
            final_decision="review",
            reviewer="A",
            reason="r",
            role="officer",
            channel="api",
        )


def test_decision_view_explains_in_words(store: EmbeddedLedgerStore) -> None:
    review_decision(
        store,
        "d-2",
        final_decision="approve",
        reviewer="Ann",
        reason="Guarantor",
        role="officer",
        channel="ui",
    )
    history = store.get("d-2")
    assert history is not None
    view = decision_view(history, ScoreScaling())
    assert view["final_decision"] == "approve"
    assert view["decision"]["hash"] and view["decision"]["seq"] == 3
    assert view["reviews"][0]["reason"] == "Guarantor"
    words = view["explanation"]
    assert "30.0%" in words["summary"] and "'approve'" in words["summary"]
    assert words["principal_reasons"][0] == "Text 0 (-10 points)"
    assert "below 15%" in words["bands"]
    assert decision_view(history, None)["explanation"]["bands"] is None


def test_notice_only_for_a_decline_with_at_most_four_reasons(
    store: EmbeddedLedgerStore,
) -> None:
    declined = store.get("d-3")
    assert declined is not None
    ctx = notice_context(declined, ScoreScaling(), "Bank", today=NOW)
    assert ctx["reasons"] == ["Text 0", "Text 1", "Text 2", "Text 3"]
    assert ctx["score"] == 510 and ctx["score_low"] < 510 < ctx["score_high"]
    html = render_notice(declined, ScoreScaling(), "Bank <&> Co")
    assert "Bank &lt;&amp;&gt; Co" in html and "@media print" in html and "declined" in html
    approved = store.get("d-0")
    assert approved is not None
    with pytest.raises(NoticeUnavailable):
        notice_context(approved, ScoreScaling(), "Bank")
    # A person declined a review case: their reason comes first, still at most four.
    review_decision(
        store,
        "d-1",
        final_decision="decline",
        reviewer="Ann",
        reason="Income not verified",
        role="officer",
        channel="ui",
    )
    overridden = store.get("d-1")
    assert overridden is not None
    ctx = notice_context(overridden, ScoreScaling(), "Bank")
    assert ctx["reasons"] == ["Income not verified", "Text 0", "Text 1", "Text 2"]
    assert ctx["declined_by"] == "Ann"
