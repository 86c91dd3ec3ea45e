"""The decision ledger without a database server: a SQLite file (``<home>/ledger.db``).

``BEGIN IMMEDIATE`` takes SQLite's write lock for the whole append, so every process on the
host extends one chain; WAL mode lets readers run meanwhile.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from credit_scoring.ledger.records import LedgerError, parse_ts
from credit_scoring.ledger.store import LedgerStore, ddl, ts_text

KEY_EXPR = "json_extract(body, '$.application_key')"
DDL = ddl(seq_type="INTEGER", ts_type="TEXT", key_expr=KEY_EXPR)


class EmbeddedLedgerStore(LedgerStore):
    """Ledger tables in one SQLite file (created on first use)."""

    key_expr = KEY_EXPR

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.name = f"sqlite:{path}"
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                conn = sqlite3.connect(
                    self.path, timeout=30, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.executescript(DDL)
            except sqlite3.Error as exc:
                raise LedgerError(f"ledger file {self.path}: {exc}") from None
            self._conn = conn
        return self._conn

    @contextmanager
    def _transaction(self, serialised: bool) -> Iterator[Any]:
        conn = self._connection()
        cur = conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE" if serialised else "BEGIN")
            yield cur
            cur.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise LedgerError(f"ledger file {self.path}: {exc}") from None
            raise
        finally:
            cur.close()

    def _ts_param(self, ts: datetime | str) -> Any:
        # A body's ts is text as utc_iso wrote it, which utc_iso returns as it is (no parse
        # and format again per record); text in any other form is still normalised.
        return ts_text(ts)

    def _ts_value(self, value: Any) -> datetime:
        return parse_ts(value)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
