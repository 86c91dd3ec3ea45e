"""The shadow-log contract: one row per application scored by the shadow challenger.

A row pairs what was served with what the challenger (the version holding
``CREDIT_SCORING_SHADOW_ALIAS``) would have answered for the same application: ``decision_id``
(the served prediction-log row's id, so its inputs join on it), ``ts`` (UTC, when the shadow
scored it), ``model_name``, ``served_version``, ``served_probability``, ``served_decision``,
``shadow_alias``, ``shadow_version``, ``shadow_probability``, ``shadow_score``,
``shadow_decision`` and ``shadow_grade``. Stored by :class:`ShadowLogWriter`: the PostgreSQL
table :data:`TABLE` when a database URL is set, else (and as the fallback while the database is
unreachable, so nothing is lost) one JSON Lines file per UTC day, :func:`log_file`
(``shadow-YYYY-MM-DD.jsonl`` in :func:`log_dir`, ``<home>/shadow-log``). The shadow log is not
the decision ledger: it records what was *not* answered, so it is neither chained nor kept for
the ledger's retention period. Shadow answers are never returned to callers; drift monitoring
never reads this log. Imports nothing heavy (the database driver only when writing to it).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypedDict

from credit_scoring.config import Settings

logger = logging.getLogger(__name__)


class ShadowRow(TypedDict):
    """One shadow pair, keys in the contract's column order."""

    decision_id: str
    ts: datetime
    model_name: str
    served_version: str
    served_probability: float
    served_decision: str
    shadow_alias: str
    shadow_version: str
    shadow_probability: float
    shadow_score: float
    shadow_decision: str
    shadow_grade: str


COLUMNS: tuple[str, ...] = tuple(ShadowRow.__annotations__)

TABLE = "shadow_log"

CREATE_TABLE_SQL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id                 BIGSERIAL PRIMARY KEY,
    decision_id         TEXT NOT NULL,
    ts                 TIMESTAMPTZ NOT NULL,
    model_name         TEXT NOT NULL,
    served_version     TEXT NOT NULL,
    served_probability DOUBLE PRECISION NOT NULL,
    served_decision    TEXT NOT NULL,
    shadow_alias       TEXT NOT NULL,
    shadow_version     TEXT NOT NULL,
    shadow_probability DOUBLE PRECISION NOT NULL,
    shadow_score       DOUBLE PRECISION NOT NULL,
    shadow_decision    TEXT NOT NULL,
    shadow_grade       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS {TABLE}_ts_idx ON {TABLE} (ts);
"""

INSERT_SQL = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES %s"  # noqa: S608

FILE_PATTERN = "shadow-*.jsonl"


def log_file(directory: Path, day: date) -> Path:
    """The JSON Lines file of one UTC day."""
    return directory / FILE_PATTERN.replace("*", day.isoformat())


def log_dir(settings: Settings) -> Path:
    """Where the JSON Lines files go: ``<ledger_dir or home>/shadow-log``."""
    return (settings.ledger_dir or settings.home) / "shadow-log"


class ShadowLogWriter:
    """Appends shadow pairs, one call per batch (the shadow worker thread calls it, off the hot
    path). PostgreSQL when a database URL is set; on a database error the batch goes to the day's
    JSON Lines file instead (the reader's ``auto`` source reads both and drops duplicates) and
    the connection is opened again for the next batch. Not thread-safe: one writer per thread."""

    def __init__(self, settings: Settings) -> None:
        self.directory = log_dir(settings)
        self._dsn = settings.database_url.get_secret_value() if settings.database_url else None
        self._conn: Any = None
        self.written = 0
        self.fallback = 0

    def write(self, rows: Sequence[ShadowRow]) -> None:
        if not rows:
            return
        if self._dsn is not None:
            try:
                self._insert(rows)
                self.written += len(rows)
                return
            except Exception as exc:  # any driver error: keep the rows in the files
                logger.warning("shadow log database write failed, writing files: %s", exc)
                self._reset()
        self._append(rows)
        self.written += len(rows)
        self.fallback += len(rows) if self._dsn is not None else 0

    def close(self) -> None:
        self._reset()

    def _insert(self, rows: Sequence[ShadowRow]) -> None:
        import psycopg2
        import psycopg2.extras

        if self._conn is None:
            self._conn = psycopg2.connect(self._dsn, connect_timeout=5)
            with self._conn, self._conn.cursor() as cur:
                cur.execute(CREATE_TABLE_SQL)
        with self._conn, self._conn.cursor() as cur:
            psycopg2.extras.execute_values(
                cur,
                INSERT_SQL,
                [tuple(r[c] for c in COLUMNS) for r in rows],  # type: ignore[literal-required]
            )

    def _append(self, rows: Sequence[ShadowRow]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        by_day: dict[date, list[str]] = {}
        for row in rows:
            line = json.dumps({**row, "ts": row["ts"].isoformat()}, separators=(",", ":"))
            by_day.setdefault(row["ts"].date(), []).append(line + "\n")
        for day, lines in by_day.items():
            # One write per file: a reader never sees half a batch's line (it skips an
            # unterminated last line).
            with log_file(self.directory, day).open("a", encoding="utf-8") as handle:
                handle.write("".join(lines))

    def _reset(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                self._conn.close()
            self._conn = None
