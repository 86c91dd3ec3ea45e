"""The decision ledger on both stores: real PostgreSQL (fresh database) and the SQLite file.

Decisions are stored once (idempotent on decision_id), reviews are linked entries, and
``verify`` finds an edited, deleted, reordered or appended-behind-its-back entry.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from credit_scoring.ledger import (
    InvalidRecord,
    LedgerStore,
    UnknownDecision,
)
from credit_scoring.ledger.embedded import EmbeddedLedgerStore
from credit_scoring.ledger.postgres import PostgresLedgerStore
from credit_scoring.ledger.records import decision_body

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def record(i: int, ts: datetime | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "decision_id": f"req-{i}",
        "ts": ts or T0 + timedelta(seconds=i),
        "model_name": "credit-scoring",
        "model_version": "3",
        "inputs": {"age": 30 + i % 40, "credit_amount": 1000.5 + i, "purpose": "car"},
        "probability": 0.1 + (i % 7) / 100,
        "score": 612.25 - i % 9,
        "decision": "approve" if i % 3 else "review",
        "reasons": [{"feature": "age", "points": -3.5, "reason": "age is low"}],
        **extra,
    }


class Backend:
    """A store factory plus raw SQL access to tamper with the tables behind its back."""

    def __init__(self, kind: str, target: str) -> None:
        self.kind, self.target = kind, target

    def open(self) -> LedgerStore:
        if self.kind == "postgres":
            return PostgresLedgerStore(self.target)
        return EmbeddedLedgerStore(Path(self.target))

    def sql(self, statement: str) -> None:
        if self.kind == "postgres":
            import psycopg2

            conn = psycopg2.connect(self.target)
            with conn, conn.cursor() as cur:
                cur.execute(statement)
            conn.close()
        else:
            lite = sqlite3.connect(self.target)
            lite.execute(statement)
            lite.commit()
            lite.close()


@pytest.fixture(params=["embedded", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "postgres":
        yield Backend("postgres", request.getfixturevalue("pg_url"))
    else:
        yield Backend("embedded", str(tmp_path / "ledger.db"))


@pytest.fixture
def store(backend: Backend) -> Iterator[LedgerStore]:
    s = backend.open()
    yield s
    s.close()


def test_append_is_idempotent_and_get_returns_the_record(store: LedgerStore) -> None:
    first = store.append([record(i) for i in range(50)])
    again = store.append([record(i) for i in range(40, 60)])
    assert (first.inserted, first.duplicates) == (50, 0)
    assert (again.inserted, again.duplicates) == (10, 10)
    assert store.count() == 60
    history = store.get("req-7")
    assert history is not None and history.reviews == []
    body = history.decision.body
    assert body["inputs"] == record(7)["inputs"]
    assert body["probability"] == record(7)["probability"]
    assert body["reasons"][0]["points"] == -3.5
    assert body["ts"] == "2026-03-01T09:00:07.000000Z"
    assert history.decision.ts == T0 + timedelta(seconds=7)
    assert store.get("req-999") is None
    assert store.verify().ok


def test_reviews_are_linked_entries_and_never_edit_the_decision(store: LedgerStore) -> None:
    store.append([record(i) for i in range(3)])
    review = store.add_review(
        "req-0", final_decision="approve", reviewer="officer-1", reason="income verified"
    )
    store.add_review(
        "req-0",
        final_decision="decline",
        reviewer="officer-2",
        reason="second look",
        review_id="r-2",
    )
    store.add_review("req-0", final_decision="decline", reviewer="x", reason="y", review_id="r-2")
    history = store.get("req-0")
    assert history is not None
    assert [r.body["reviewer"] for r in history.reviews] == ["officer-1", "officer-2"]
    assert history.decision.body["decision"] == "review"
    assert history.final_decision == "decline"
    assert review.body["original_decision"] == "review"
    assert review.decision_id == "req-0" and review.prev_hash != review.hash
    with pytest.raises(UnknownDecision):
        store.add_review("nope", final_decision="approve", reviewer="a", reason="b")
    with pytest.raises(InvalidRecord, match="final_decision"):
        store.add_review("req-1", final_decision="maybe", reviewer="a", reason="b")
    assert store.count() == 5
    assert store.verify().ok


def test_invalid_records_name_the_field(store: LedgerStore) -> None:
    bad = record(1)
    del bad["probability"]
    with pytest.raises(InvalidRecord, match="probability"):
        store.append([bad])
    with pytest.raises(InvalidRecord, match="inputs"):
        store.append([record(2, inputs=[1, 2])])
    assert store.count() == 0


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("UPDATE decision_ledger SET decision = 'decline' WHERE seq = 3", "column(s) decision"),
        (
            "UPDATE decision_ledger SET body = replace(body, '\"score\":', '\"score\":1') "
            "WHERE seq = 4",
            "seq 4: hash does not match",
        ),
        ("DELETE FROM decision_ledger WHERE seq = 5", "entries missing"),
        ("DELETE FROM decision_ledger WHERE seq = 10", "recorded head is seq 10"),
        ("UPDATE decision_ledger SET hash = prev_hash WHERE seq = 2", "seq 2: hash"),
    ],
)
def test_verify_detects_tampering(
    backend: Backend, store: LedgerStore, statement: str, expected: str
) -> None:
    store.append([record(i) for i in range(10)])
    assert store.verify().ok
    backend.sql(statement)
    result = store.verify()
    assert not result.ok
    assert any(expected in p for p in result.problems), result.problems


def test_purge_keeps_the_rest_verifiable(store: LedgerStore) -> None:
    store.append([record(i, ts=T0 + timedelta(days=i)) for i in range(10)])
    assert store.purge(T0 + timedelta(days=4)) == 4
    assert store.count() == 6
    assert store.get("req-3") is None and store.get("req-4") is not None
    result = store.verify()
    assert result.ok, result.problems
    store.append([record(20)])
    assert store.verify().ok and store.count() == 7


def test_entries_window_and_model_filter(store: LedgerStore) -> None:
    store.append([record(i, ts=T0 + timedelta(hours=i)) for i in range(6)])
    store.append([record(100, model_name="other")])
    window = store.entries(T0 + timedelta(hours=1), T0 + timedelta(hours=4))
    assert [e.decision_id for e in window] == ["req-1", "req-2", "req-3"]
    assert [e.decision_id for e in store.entries(T0, T0 + timedelta(days=1), model_name="other")]


def test_ts_in_any_offset_or_text_is_stored_as_utc(store: LedgerStore) -> None:
    """Record timestamps arrive as aware datetimes, naive ones (UTC) or ISO text in any offset
    (records read back from the spool); each is stored and found as the same UTC instant."""
    paris = timezone(timedelta(hours=1))
    store.append(
        [
            record(1, ts=datetime(2026, 3, 1, 10, 30, tzinfo=paris)),  # 09:30 UTC
            record(2, ts=datetime(2026, 3, 1, 9, 45)),  # naive: UTC
            record(3, ts="2026-03-01T11:15:00.5+02:00"),  # type: ignore[arg-type]  # 09:15:00.5
            record(4, ts="2026-03-01T10:05:00.000001Z"),  # type: ignore[arg-type]
        ]
    )
    window = store.entries(T0 + timedelta(minutes=10), T0 + timedelta(minutes=50))
    assert [(e.decision_id, e.ts) for e in window] == [
        ("req-1", T0 + timedelta(minutes=30)),
        ("req-2", T0 + timedelta(minutes=45)),
        ("req-3", T0 + timedelta(minutes=15, milliseconds=500)),
    ]
    assert [e.body["ts"] for e in window] == [
        "2026-03-01T09:30:00.000000Z",
        "2026-03-01T09:45:00.000000Z",
        "2026-03-01T09:15:00.500000Z",
    ]
    late = store.get("req-4")
    assert late is not None
    assert late.decision.ts == T0 + timedelta(hours=1, minutes=5, microseconds=1)
    # A body handed over as it is (append_bodies) with ts text in another form: still UTC.
    body = decision_body(record(5))
    body["ts"] = "2026-03-01T11:20:00+02:00"
    store.append_bodies([body])
    window = store.entries(T0 + timedelta(minutes=19), T0 + timedelta(minutes=21))
    assert [(e.decision_id, e.ts) for e in window] == [("req-5", T0 + timedelta(minutes=20))]
    assert store.verify().ok


def _key_index_used(backend: Backend) -> bool:
    """Whether the database plans a lookup by application key on the key index."""
    if backend.kind == "postgres":
        import psycopg2

        from credit_scoring.ledger.postgres import KEY_EXPR

        conn = psycopg2.connect(backend.target)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SET enable_seqscan = off")  # a tiny table would be scanned anyway
                cur.execute(
                    "EXPLAIN SELECT * FROM decision_ledger "  # noqa: S608
                    f"WHERE kind = 'decision' AND {KEY_EXPR} IN ('app-1')"
                )
                plan = " ".join(r[0] for r in cur.fetchall())
        finally:
            conn.close()
    else:
        from credit_scoring.ledger.embedded import KEY_EXPR

        lite = sqlite3.connect(backend.target)
        plan = " ".join(
            str(r[-1])
            for r in lite.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM decision_ledger "  # noqa: S608
                f"WHERE kind = 'decision' AND {KEY_EXPR} IN ('app-1')"
            )
        )
        lite.close()
    return "decision_ledger_key_idx" in plan


def test_decisions_by_application_key(backend: Backend, store: LedgerStore) -> None:
    """The same applicant scored at three times: three decisions under one key, oldest first,
    found through the key index (re-created on open for a ledger that predates it)."""
    store.append([record(i, application_key=f"app-{i % 3}") for i in range(9)])
    store.append([record(50)])  # no key
    found = store.decisions_by_key(["app-1", "app-2", "nobody"])
    assert {k: [e.decision_id for e in v] for k, v in found.items()} == {
        "app-1": ["req-1", "req-4", "req-7"],
        "app-2": ["req-2", "req-5", "req-8"],
    }
    with pytest.raises(InvalidRecord, match="application_key"):
        store.append([record(60, application_key="")])
    assert store.verify().ok
    assert _key_index_used(backend)
    store.close()
    backend.sql("DROP INDEX decision_ledger_key_idx")
    reopened = backend.open()
    try:
        assert [e.decision_id for e in reopened.decisions_by_key(["app-0"])["app-0"]] == [
            "req-0",
            "req-3",
            "req-6",
        ]
    finally:
        reopened.close()
    assert _key_index_used(backend)


def _append_worker(args: tuple[str, str, int]) -> int:
    kind, target, start = args
    s = Backend(kind, target).open()
    total = 0
    for k in range(10):
        base = start + k * 20
        total += s.append([record(i) for i in range(base, base + 20)]).inserted
    s.close()
    return total


def test_concurrent_processes_extend_one_chain(backend: Backend, store: LedgerStore) -> None:
    """Four processes (API replicas) appending at once still form one gap-free chain."""
    store.count()  # creates the tables before the race
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        inserted = pool.map(
            _append_worker, [(backend.kind, backend.target, p * 1000) for p in range(4)]
        )
    assert sum(inserted) == 800
    result = store.verify()
    assert result.ok, result.problems[:5]
    assert result.entries == 800 and result.head_seq == 800


def test_verify_walks_a_large_chain(store: LedgerStore) -> None:
    factory: Callable[[int], dict[str, Any]] = record
    for k in range(5):
        store.append([factory(i) for i in range(k * 2000, (k + 1) * 2000)])
    result = store.verify()
    assert result.ok and result.entries == 10_000


def test_cli_ledger_verify_and_purge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``credit-scoring ledger verify`` exits 1 naming the deleted entry; purge keeps 183 days."""
    from typer.testing import CliRunner

    from credit_scoring.cli.main import app
    from credit_scoring.config import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("CREDIT_SCORING_HOME", str(home))
    get_settings.cache_clear()
    store = EmbeddedLedgerStore(home / "ledger.db")
    store.append([record(i) for i in range(5)])
    runner = CliRunner()
    ok = runner.invoke(app, ["ledger", "verify"])
    assert ok.exit_code == 0 and "5 entries" in ok.output and ": ok" in ok.output
    Backend("embedded", str(home / "ledger.db")).sql("DELETE FROM decision_ledger WHERE seq = 2")
    bad = runner.invoke(app, ["ledger", "verify"])
    assert bad.exit_code == 1
    assert "seq 2..2: entries missing" in bad.output
    short = runner.invoke(app, ["ledger", "purge", "--days", "30"])
    assert short.exit_code == 2 and "at least 183 days" in short.output
    purged = runner.invoke(app, ["ledger", "purge", "--days", "200"])
    assert purged.exit_code == 0 and "deleted 4 ledger entries" in purged.output
    store.close()
    get_settings.cache_clear()
