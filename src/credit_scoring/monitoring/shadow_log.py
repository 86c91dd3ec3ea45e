"""Read the shadow log (served/challenger pairs) for a time window: PostgreSQL table and/or the
JSON Lines files, as the contract in :mod:`credit_scoring.predictions.shadow` says. Sources as
for decisions: ``postgres`` the table, ``embedded`` the files; ``auto`` with a database reads
the table and the writer's fallback files and drops duplicate decision ids."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from credit_scoring.config import Settings
from credit_scoring.monitoring.prediction_log import (
    PredictionLogError,
    Source,
    as_utc,
    resolve_source,
)
from credit_scoring.predictions.shadow import COLUMNS, TABLE, log_dir, log_file

_SQL = (
    f"SELECT {', '.join(COLUMNS)} FROM {TABLE} "  # noqa: S608 (constants only)
    "WHERE ts >= %(start)s AND ts < %(end)s AND model_name = %(model)s ORDER BY ts"
)


def _days(start: datetime, end: datetime) -> Iterator[date]:
    """The UTC days of ``[start, end)`` (one file each)."""
    day, last = start.date(), (end - timedelta(microseconds=1)).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


def read_shadow_log(
    settings: Settings, start: datetime, end: datetime, source: Source = "auto"
) -> pd.DataFrame:
    """Shadow pairs with ts in ``[start, end)`` as a frame with the contract's columns."""
    start, end = as_utc(start), as_utc(end)
    rows: list[dict[str, Any]] = []
    if resolve_source(settings, source) == "postgres":
        import psycopg2
        import psycopg2.errors
        import psycopg2.extras

        assert settings.database_url is not None
        try:
            conn = psycopg2.connect(settings.database_url.get_secret_value())
        except psycopg2.Error as exc:
            raise PredictionLogError(f"cannot connect to the shadow log database: {exc}") from exc
        try:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                cur.execute(_SQL, {"start": start, "end": end, "model": settings.model_name})
                rows = [dict(r) for r in cur.fetchall()]
        except psycopg2.errors.UndefinedTable:
            rows = []  # created with the first pair: no shadow has run against this database
        except psycopg2.Error as exc:
            raise PredictionLogError(f"cannot read table {TABLE}: {exc}") from exc
        finally:
            conn.close()
    if source != "postgres":
        seen = {r["decision_id"] for r in rows}
        for day in _days(start, end):
            path = log_file(log_dir(settings), day)
            if not path.is_file():
                continue
            with path.open(encoding="utf-8") as handle:
                for lineno, line in enumerate(handle, start=1):
                    if not line.endswith("\n"):
                        continue  # the API is still appending
                    try:
                        row = json.loads(line)
                        ts = as_utc(datetime.fromisoformat(str(row["ts"])))
                    except (ValueError, KeyError, TypeError) as exc:
                        raise PredictionLogError(
                            f"{path}:{lineno}: not a shadow row: {exc}"
                        ) from exc
                    if (
                        start <= ts < end
                        and row.get("model_name") == settings.model_name
                        and row["decision_id"] not in seen
                    ):
                        row["ts"] = ts
                        rows.append(row)
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    for col in ("served_version", "shadow_version"):
        frame[col] = frame[col].astype(str)
    return frame
