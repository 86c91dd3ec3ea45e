"""Logged decisions looked up by id: what outcomes join to.

Today the decisions are the prediction log's rows (:mod:`credit_scoring.predictions.record`:
the PostgreSQL table and/or the JSON Lines files); a decision id is the logged ``request_id``
(``<id>-<i>`` for the i-th application of a batch). A lender that sends its application key as
``X-Request-ID`` gets that key as the decision id. This module is where decisions are looked up
by id: when the decision ledger replaces the prediction log, :func:`find_decisions` is what
changes here (the backtest's join, ``monitoring.evidence.decisions_with_outcomes``, reads its
window through the prediction-log reader).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from credit_scoring.config import Settings
from credit_scoring.predictions.record import FILE_PATTERN, TABLE


@dataclass(frozen=True)
class LoggedDecision:
    decision_id: str
    ts: datetime
    model_version: str


def find_decisions(settings: Settings, ids: Iterable[str]) -> dict[str, LoggedDecision]:
    """The logged decisions among ``ids`` (database and fallback files, like the log reader)."""
    wanted = set(ids)
    found: dict[str, LoggedDecision] = {}
    if settings.database_url is not None and wanted:
        import psycopg2

        conn = psycopg2.connect(settings.database_url.get_secret_value(), connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    f"SELECT request_id, ts, model_version FROM {TABLE} "  # noqa: S608
                    "WHERE request_id = ANY(%s) AND model_name = %s",
                    (list(wanted), settings.model_name),
                )
                for rid, ts, version in cur.fetchall():
                    found.setdefault(rid, LoggedDecision(rid, ts.astimezone(UTC), str(version)))
        except psycopg2.Error:
            pass  # no table yet: nothing logged there
        finally:
            conn.close()
    missing = wanted - found.keys()
    if missing:
        for path in sorted(settings.prediction_log_dir.glob(FILE_PATTERN)):
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if not line.endswith("\n"):
                        continue  # the API is still appending this line
                    row = json.loads(line)
                    rid = row.get("request_id")
                    if rid in missing and row.get("model_name") == settings.model_name:
                        ts = datetime.fromisoformat(str(row["ts"]))
                        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
                        found[rid] = LoggedDecision(rid, ts, str(row["model_version"]))
                        missing.discard(rid)
            if not missing:
                break
    return found
