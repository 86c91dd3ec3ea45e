"""Read the scoring API's decisions for a time window from the decision ledger.

The prediction log *is* the decision ledger (``credit_scoring.ledger``, contract in
``docs/architecture.md``): one ``decision`` entry per scored applicant with ``decision_id``,
``ts`` (UTC), ``model_name``, ``model_version``, ``inputs`` (the applicant fields),
``probability``, ``score``, ``decision``, ``reasons`` and, when the client sent one,
``application_key``. It lives in PostgreSQL (table
``decision_ledger``) when ``CREDIT_SCORING_DATABASE_URL`` is set, else in the embedded SQLite
file ``<home>/ledger.db``. Records still in an API's spool (database down) are not read until
shipped.

:func:`read_prediction_log` returns one flat frame: the applicant fields as columns plus
``decision_id``, ``ts``, ``model_name``, ``model_version``, ``probability``, ``score``,
``decision`` and ``application_key`` (None where not sent).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd

from credit_scoring.config import Settings

Source = Literal["auto", "postgres", "embedded"]
SOURCES: tuple[str, ...] = ("auto", "postgres", "embedded")

#: Columns of the log besides the applicant inputs.
LOG_COLUMNS = [
    "decision_id",
    "ts",
    "model_name",
    "model_version",
    "probability",
    "score",
    "decision",
    "application_key",
]


class PredictionLogError(ValueError):
    """The prediction log cannot be read (names the store and the cause)."""


def as_utc(value: datetime) -> datetime:
    """A timezone-aware UTC datetime (naive values are taken to be UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def resolve_source(settings: Settings, source: Source = "auto") -> Literal["postgres", "embedded"]:
    """``auto`` means PostgreSQL when ``CREDIT_SCORING_DATABASE_URL`` is set, else embedded."""
    if source == "auto":
        return "postgres" if settings.database_url is not None else "embedded"
    if source == "postgres" and settings.database_url is None:
        raise PredictionLogError(
            "source 'postgres' needs CREDIT_SCORING_DATABASE_URL (or _FILE) to be set"
        )
    if source not in ("postgres", "embedded"):
        raise PredictionLogError(
            f"unknown prediction log source {source!r} (one of {', '.join(SOURCES)})"
        )
    return source


def read_prediction_log(
    settings: Settings,
    window_start: datetime,
    window_end: datetime,
    source: Source = "auto",
    model_name: str | None = None,
) -> pd.DataFrame:
    """Decisions of ``model_name`` (default: the settings' model) with ts in [start, end)."""
    from credit_scoring.ledger import LedgerError
    from credit_scoring.ledger.embedded import EmbeddedLedgerStore
    from credit_scoring.ledger.postgres import PostgresLedgerStore
    from credit_scoring.ledger.store import LedgerStore

    start, end = as_utc(window_start), as_utc(window_end)
    if end <= start:
        raise PredictionLogError(
            f"window end {end.isoformat()} is not after start {start.isoformat()}"
        )
    store: LedgerStore
    if resolve_source(settings, source) == "postgres":
        assert settings.database_url is not None
        store = PostgresLedgerStore(settings.database_url.get_secret_value())
    else:
        store = EmbeddedLedgerStore(settings.ledger_path)
    try:
        entries = store.entries(start, end, model_name=model_name or settings.model_name)
    except LedgerError as exc:
        raise PredictionLogError(f"cannot read the decision ledger: {exc}") from exc
    finally:
        store.close()
    return _to_frame([e.body for e in entries])


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
