"""The decision ledger in PostgreSQL (``CREDIT_SCORING_DATABASE_URL``).

Appends take ``pg_advisory_xact_lock`` so that every API replica and the CLI extend one chain:
the lock is released when the transaction commits or rolls back (also when a client dies).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from credit_scoring.ledger.records import LedgerError, StoredRow, parse_ts
from credit_scoring.ledger.store import COLUMNS, LedgerStore, ddl

#: Key of the advisory lock that serialises appends ("ledger" in ASCII).
ADVISORY_LOCK_KEY = 0x6C6564676572

KEY_EXPR = "((body::jsonb) ->> 'application_key')"
DDL = ddl(seq_type="BIGINT", ts_type="TIMESTAMPTZ", key_expr=KEY_EXPR)


class PostgresLedgerStore(LedgerStore):
    """Ledger tables in a PostgreSQL database (created on first use)."""

    placeholder = "%s"
    key_expr = KEY_EXPR

    def __init__(self, dsn: str, *, connect_timeout_s: int = 5) -> None:
        super().__init__()
        self._dsn = dsn
        self._timeout = connect_timeout_s
        self._conn: Any = None
        self.name = "postgres"

    def _connection(self) -> Any:
        import psycopg2  # lazily: only with a database

        if self._conn is None or self._conn.closed:
            try:
                conn = psycopg2.connect(
                    self._dsn,
                    connect_timeout=self._timeout,
                    application_name="credit-scoring-ledger",
                    keepalives=1,
                    keepalives_idle=10,
                    keepalives_interval=5,
                    keepalives_count=3,
                )
                with conn, conn.cursor() as cur:
                    # Two processes creating the tables at once would collide without the lock.
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
                    cur.execute(DDL)
            except psycopg2.Error as exc:
                raise LedgerError(f"ledger database: {_first_line(exc)}") from None
            self._conn = conn
        return self._conn

    @contextmanager
    def _transaction(self, serialised: bool) -> Iterator[Any]:
        import psycopg2

        conn = self._connection()
        try:
            with conn, conn.cursor() as cur:
                if serialised:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
                yield cur
        except psycopg2.Error as exc:
            self._drop()
            # Only the first line: the driver's DETAIL may quote row values (applicant data).
            raise LedgerError(f"ledger database: {_first_line(exc)}") from None
        except BaseException:
            self._drop()
            raise

    def _insert(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        from psycopg2.extras import execute_values

        # One multi-row INSERT per 1,000 rows instead of one round trip per row.
        execute_values(
            cur,
            f"INSERT INTO decision_ledger ({', '.join(COLUMNS)}) VALUES %s",  # noqa: S608
            rows,
            page_size=1000,
        )

    def _scan(self, cur: Any, sql: str) -> Iterator[StoredRow]:
        with cur.connection.cursor(name="ledger_scan") as named:
            named.itersize = 5000
            named.execute(sql)
            for row in named:
                yield self._row(row)

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _ts_param(self, ts: datetime | str) -> Any:
        return parse_ts(ts) if isinstance(ts, str) else ts

    def _ts_value(self, value: Any) -> datetime:
        return value

    def close(self) -> None:
        with self._lock:
            self._drop()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
