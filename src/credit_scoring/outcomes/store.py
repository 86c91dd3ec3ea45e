"""The outcomes table: one realised outcome per logged decision, PostgreSQL or embedded SQLite.

Contract (one row per decision id; the same DDL serves both databases)::

    outcomes(decision_id TEXT PRIMARY KEY,  -- the logged request id (``<id>-<i>`` in a batch)
             defaulted SMALLINT 0/1,
             observed_at DATE,               -- when the outcome was observed
             recorded_at TIMESTAMPTZ,        -- when it was recorded here (UTC)
             source TEXT)                    -- file name or "api"

With ``CREDIT_SCORING_DATABASE_URL`` the table lives in that PostgreSQL database, next to the
decision ledger; without it in ``<home>/outcomes.db`` (SQLite, the embedded default). An outcome is
written once: a second one for the same id is refused (``ON CONFLICT DO NOTHING``) and reported
as a duplicate by the intake, never overwritten.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from credit_scoring.config import Settings

TABLE = "outcomes"

CREATE_TABLE_SQL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    decision_id TEXT PRIMARY KEY,
    defaulted   SMALLINT NOT NULL CHECK (defaulted IN (0, 1)),
    observed_at DATE NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    source      TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Outcome:
    """A realised outcome of one decision. Given by ``application_key`` instead, ``decision_id``
    is empty until the intake resolves the key to a decision (only the decision id is stored)."""

    decision_id: str
    defaulted: int
    observed_at: date
    application_key: str | None = None


class OutcomeStore:
    """Insert and read outcomes (PostgreSQL when a database URL is set, else SQLite)."""

    def __init__(self, settings: Settings) -> None:
        self._dsn = settings.database_url.get_secret_value() if settings.database_url else None
        self._sqlite_path = settings.home / "outcomes.db"

    @property
    def location(self) -> str:
        return f"PostgreSQL table {TABLE}" if self._dsn else str(self._sqlite_path)

    def _connect(self) -> Any:
        if self._dsn:
            import psycopg2

            conn = psycopg2.connect(self._dsn, connect_timeout=5)
        else:
            self._sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._sqlite_path, timeout=30)
        with conn:
            conn.cursor().execute(CREATE_TABLE_SQL)
        return conn

    def _mark(self) -> str:
        return "%s" if self._dsn else "?"

    def existing(self, ids: Iterable[str]) -> set[str]:
        """The ids among ``ids`` that already have an outcome."""
        wanted = list(dict.fromkeys(ids))
        found: set[str] = set()
        conn = self._connect()
        try:
            cur = conn.cursor()
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ", ".join([self._mark()] * len(chunk))
                cur.execute(
                    f"SELECT decision_id FROM {TABLE} WHERE decision_id IN ({marks})",  # noqa: S608
                    chunk,
                )
                found.update(r[0] for r in cur.fetchall())
        finally:
            conn.close()
        return found

    def insert(self, outcomes: Sequence[Outcome], source: str) -> set[str]:
        """Insert in one transaction; returns the ids NOT inserted (already present: a writer
        raced us between :meth:`existing` and here)."""
        now = datetime.now(UTC).isoformat()
        m = self._mark()
        sql = (
            f"INSERT INTO {TABLE} (decision_id, defaulted, observed_at, recorded_at, source) "  # noqa: S608
            f"VALUES ({m}, {m}, {m}, {m}, {m}) ON CONFLICT (decision_id) DO NOTHING"
        )
        refused: set[str] = set()
        conn = self._connect()
        try:
            with conn:
                cur = conn.cursor()
                for o in outcomes:
                    cur.execute(
                        sql, (o.decision_id, o.defaulted, o.observed_at.isoformat(), now, source)
                    )
                    if cur.rowcount == 0:
                        refused.add(o.decision_id)
        finally:
            conn.close()
        return refused

    def fetch(self, ids: Iterable[str] | None = None) -> dict[str, Outcome]:
        """Outcomes by decision id (all, or those of ``ids``)."""
        conn = self._connect()
        out: dict[str, Outcome] = {}
        try:
            cur = conn.cursor()
            base = f"SELECT decision_id, defaulted, observed_at FROM {TABLE}"  # noqa: S608
            if ids is None:
                cur.execute(base)
                rows = cur.fetchall()
            else:
                wanted, rows = list(dict.fromkeys(ids)), []
                for i in range(0, len(wanted), 500):
                    chunk = wanted[i : i + 500]
                    marks = ", ".join([self._mark()] * len(chunk))
                    cur.execute(f"{base} WHERE decision_id IN ({marks})", chunk)
                    rows += cur.fetchall()
        finally:
            conn.close()
        for rid, flag, observed in rows:
            day = observed if isinstance(observed, date) else date.fromisoformat(str(observed))
            out[str(rid)] = Outcome(str(rid), int(flag), day)
        return out
