"""The prediction-log contract: row type, columns, PostgreSQL table and file naming, in one place.

One row per scored applicant: ``request_id`` (text; ``<id>-<i>`` for the i-th application of a
batch), ``ts`` (UTC timestamp, one per request), ``model_name``, ``model_version`` (text),
``inputs`` (JSON object of the applicant fields), ``probability``, ``score`` (floats),
``decision`` (text) and ``latency_ms`` (float). The API writes rows to the PostgreSQL table
:data:`TABLE` (``inputs`` as ``jsonb``) when a database URL is set, else (and as the fallback
when the database is down) to one JSON Lines file per UTC day, :func:`log_file`. Monitoring reads
both. This module is the only place that spells the contract: it imports nothing heavy (no
pandas, no database driver) so the API's hot path and the readers can share it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypedDict


class PredictionRow(TypedDict):
    """One prediction-log row, keys in the contract's column order."""

    request_id: str
    ts: datetime
    model_name: str
    model_version: str
    inputs: dict[str, Any]
    probability: float
    score: float
    decision: str
    latency_ms: float


#: Every column of a row, in order (the table's columns after its ``id``).
COLUMNS: tuple[str, ...] = tuple(PredictionRow.__annotations__)

#: The PostgreSQL table of the log.
TABLE = "prediction_log"

CREATE_TABLE_SQL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id            BIGSERIAL PRIMARY KEY,
    request_id    TEXT NOT NULL,
    ts            TIMESTAMPTZ NOT NULL,
    model_name    TEXT NOT NULL,
    model_version TEXT NOT NULL,
    inputs        JSONB NOT NULL,
    probability   DOUBLE PRECISION NOT NULL,
    score         DOUBLE PRECISION NOT NULL,
    decision      TEXT NOT NULL,
    latency_ms    DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS {TABLE}_ts_idx ON {TABLE} (ts);
CREATE INDEX IF NOT EXISTS {TABLE}_version_idx ON {TABLE} (model_version);
"""

#: ``psycopg2.extras.execute_values`` statement inserting whole rows (values in :data:`COLUMNS`
#: order).
INSERT_SQL = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES %s"  # noqa: S608

#: The file name pattern of the JSON Lines log (``*`` is the UTC day, ``YYYY-MM-DD``).
FILE_PATTERN = "predictions-*.jsonl"


def log_file(directory: Path, day: date) -> Path:
    """The JSON Lines file of one UTC day."""
    return directory / FILE_PATTERN.replace("*", day.isoformat())


def make_row(
    *,
    request_id: str,
    model_name: str,
    model_version: str,
    inputs: dict[str, Any],
    probability: float,
    score: float,
    decision: str,
    latency_ms: float,
    ts: datetime | None = None,
) -> PredictionRow:
    """One row in the contract's column order (``ts`` defaults to now, UTC)."""
    return {
        "request_id": request_id,
        "ts": ts or datetime.now(UTC),
        "model_name": model_name,
        "model_version": model_version,
        "inputs": inputs,
        "probability": probability,
        "score": score,
        "decision": decision,
        "latency_ms": latency_ms,
    }
