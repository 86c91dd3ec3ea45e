"""The shadow-log contract: one row per application scored by the shadow challenger.

A row pairs what was served with what the challenger (the version holding
``CREDIT_SCORING_SHADOW_ALIAS``) would have answered for the same application: ``request_id``
(the served prediction-log row's id, so its inputs join on it), ``ts`` (UTC, when the shadow
scored it), ``model_name``, ``served_version``, ``served_probability``, ``served_decision``,
``shadow_alias``, ``shadow_version``, ``shadow_probability``, ``shadow_score``,
``shadow_decision`` and ``shadow_grade``. Written beside the prediction log: the PostgreSQL table
:data:`TABLE` when a database URL is set, else one JSON Lines file per UTC day,
:func:`log_file` (``shadow-YYYY-MM-DD.jsonl`` in the prediction-log directory). Shadow answers
are never returned to callers; drift monitoring never reads this log. Imports nothing heavy.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TypedDict


class ShadowRow(TypedDict):
    """One shadow pair, keys in the contract's column order."""

    request_id: str
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
    request_id         TEXT NOT NULL,
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
