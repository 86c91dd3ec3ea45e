"""Read the scoring API's prediction log for a time window (PostgreSQL table or JSON Lines files).

The format is the contract in :mod:`credit_scoring.predictions.record` (row fields, table,
file naming): PostgreSQL keeps rows in its table (``inputs`` as ``jsonb``); without a database
the API appends to one JSON Lines file per UTC day of ``ts`` under ``<home>/predictions/``, and
also there when the database is unreachable (its fallback): source ``auto`` with a database reads
both and drops duplicate ``request_id`` values.

:func:`read_prediction_log` returns one flat frame: the applicant fields as columns plus
``request_id``, ``ts``, ``model_name``, ``model_version``, ``probability``, ``score`` and
``decision``.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from credit_scoring.config import Settings
from credit_scoring.predictions.record import COLUMNS, TABLE, log_file

Source = Literal["auto", "postgres", "files"]

#: Columns of the returned frame besides the applicant inputs.
LOG_COLUMNS = [c for c in COLUMNS if c not in ("inputs", "latency_ms")]

_SELECTED = [c for c in COLUMNS if c != "latency_ms"]
_SQL = (
    f"SELECT {', '.join(_SELECTED)} FROM {TABLE} "  # noqa: S608 (constants only)
    "WHERE ts >= %(start)s AND ts < %(end)s AND model_name = %(model)s ORDER BY ts"
)


class PredictionLogError(ValueError):
    """The prediction log cannot be read (names the file and line, or the database)."""


def as_utc(value: datetime) -> datetime:
    """A timezone-aware UTC datetime (naive values are taken to be UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def resolve_source(settings: Settings, source: Source = "auto") -> Literal["postgres", "files"]:
    """``auto`` means PostgreSQL when ``CREDIT_SCORING_DATABASE_URL`` is set, else files."""
    if source == "auto":
        return "postgres" if settings.database_url is not None else "files"
    if source == "postgres" and settings.database_url is None:
        raise PredictionLogError(
            "source 'postgres' needs CREDIT_SCORING_DATABASE_URL (or _FILE) to be set"
        )
    if source not in ("postgres", "files"):
        raise PredictionLogError(f"unknown prediction log source {source!r}")
    return source


def read_prediction_log(
    settings: Settings,
    window_start: datetime,
    window_end: datetime,
    source: Source = "auto",
    model_name: str | None = None,
) -> pd.DataFrame:
    """Predictions of ``model_name`` (default: the settings' model) with ts in [start, end)."""
    start, end = as_utc(window_start), as_utc(window_end)
    if end <= start:
        raise PredictionLogError(
            f"window end {end.isoformat()} is not after start {start.isoformat()}"
        )
    name = model_name or settings.model_name
    if resolve_source(settings, source) == "postgres":
        rows = _read_postgres(settings, start, end, name)
        if source == "auto":
            # The API falls back to the files when the database is down; count those rows too.
            seen = {r["request_id"] for r in rows}
            fallback = _read_files(settings.prediction_log_dir, start, end, name)
            rows += [r for r in fallback if r.get("request_id") not in seen]
            rows.sort(key=lambda r: r["ts"])
    else:
        rows = _read_files(settings.prediction_log_dir, start, end, name)
    return _to_frame(rows)


def _read_postgres(
    settings: Settings, start: datetime, end: datetime, model_name: str
) -> list[dict[str, Any]]:
    import psycopg2  # type: ignore[import-untyped,unused-ignore]
    import psycopg2.extras  # type: ignore[import-untyped,unused-ignore]

    assert settings.database_url is not None
    url = settings.database_url.get_secret_value()
    try:
        conn = psycopg2.connect(url)
    except psycopg2.Error as exc:
        raise PredictionLogError(f"cannot connect to the prediction log database: {exc}") from exc
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(_SQL, {"start": start, "end": end, "model": model_name})
            rows = [dict(r) for r in cur.fetchall()]
    except psycopg2.Error as exc:
        raise PredictionLogError(f"cannot read table {TABLE}: {exc}") from exc
    finally:
        conn.close()
    for row in rows:
        if isinstance(row["inputs"], str):  # json (not jsonb) columns come back as text
            row["inputs"] = json.loads(row["inputs"])
    return rows


def _days(start: datetime, end: datetime) -> list[date]:
    last = (end - timedelta(microseconds=1)).date()
    day, out = start.date(), []
    while day <= last:
        out.append(day)
        day += timedelta(days=1)
    return out


def _read_files(
    directory: Path, start: datetime, end: datetime, model_name: str
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for day in _days(start, end):
        file = log_file(directory, day)
        if not file.is_file():
            continue
        with file.open(encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    ts = as_utc(datetime.fromisoformat(str(row["ts"])))
                except (ValueError, KeyError, TypeError) as exc:
                    # A half-written last line (API still appending) is not an error.
                    if not line.endswith("\n"):
                        continue
                    raise PredictionLogError(
                        f"{file}:{lineno}: not a prediction log row: {exc}"
                    ) from exc
                if not isinstance(row, dict) or not isinstance(row.get("inputs"), dict):
                    raise PredictionLogError(f"{file}:{lineno}: field 'inputs' must be an object")
                if start <= ts < end and row.get("model_name", model_name) == model_name:
                    row["ts"] = ts
                    rows.append(row)
    return rows


def _to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=LOG_COLUMNS)
    inputs = pd.DataFrame.from_records([r["inputs"] for r in rows])
    meta = pd.DataFrame.from_records([{c: r.get(c) for c in LOG_COLUMNS} for r in rows])
    meta["ts"] = pd.to_datetime(meta["ts"], utc=True)
    meta["model_version"] = meta["model_version"].astype(str)
    for col in ("probability", "score"):
        meta[col] = pd.to_numeric(meta[col], errors="coerce")
    inputs = inputs.drop(columns=[c for c in LOG_COLUMNS if c in inputs.columns])
    return pd.concat([inputs, meta], axis=1)
