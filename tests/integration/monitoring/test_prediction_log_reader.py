"""The monitoring reader reads exactly what the API stores in the decision ledger.

Records are appended with the ledger's own stores (the embedded SQLite file and real
PostgreSQL at 127.0.0.1:5432, a fresh database per test from the suite's ``pg_url`` fixture),
then read back for a window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from credit_scoring.config import Settings
from credit_scoring.ledger import open_ledger
from credit_scoring.monitoring.prediction_log import PredictionLogError, read_prediction_log

pytestmark = pytest.mark.integration

T0 = datetime(2026, 2, 1, 22, 0, tzinfo=UTC)


def _records(
    n: int, start: datetime, step: timedelta, model: str = "credit-scoring"
) -> list[dict[str, Any]]:
    return [
        {
            "decision_id": f"{model}-{start:%H%M}-{i}",
            "ts": start + i * step,
            "model_name": model,
            "model_version": "3",
            "inputs": {
                "duration_in_month": 12 + i,
                "purpose": "car (new)",
                "credit_amount": 1000.5 * (i + 1),
            },
            "probability": 0.1 + i / 1000,
            "score": 600.0 - i,
            "decision": "approve" if i % 2 else "review",
            "reasons": [],
            "latency_ms": 0.8,
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("kind", ["embedded", "postgres"])
def test_window_spans_days_and_filters_model(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_url") if kind == "postgres" else None
    settings = Settings(home=tmp_path, database_url=url)
    store = open_ledger(settings)
    # 10 decisions every 30 min from 22:00 (they span two days); reviews are not decisions.
    store.append(_records(10, T0, timedelta(minutes=30)))
    store.append(_records(3, T0, timedelta(minutes=30), model="other-model"))
    store.add_review(
        "credit-scoring-2200-2", final_decision="approve", reviewer="o", reason="checked"
    )
    store.close()

    frame = read_prediction_log(settings, T0 + timedelta(minutes=30), T0 + timedelta(hours=4))
    assert len(frame) == 7  # [22:30, 02:00): decisions 1..7
    assert frame["ts"].is_monotonic_increasing
    assert str(frame["ts"].dt.tz) == "UTC"
    assert frame["ts"].min() == pd.Timestamp(T0 + timedelta(minutes=30))
    assert set(frame["model_name"]) == {"credit-scoring"}
    assert frame["credit_amount"].tolist()[0] == pytest.approx(2001.0)
    assert frame["duration_in_month"].tolist()[:3] == [13, 14, 15]
    assert frame["purpose"].unique().tolist() == ["car (new)"]
    assert {"probability", "score", "decision", "model_version"} <= set(frame.columns)
    assert frame["model_version"].unique().tolist() == ["3"]
    other = read_prediction_log(settings, T0, T0 + timedelta(hours=4), model_name="other-model")
    assert len(other) == 3


def test_empty_window_and_bad_window(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    empty = read_prediction_log(settings, T0, T0 + timedelta(hours=1))
    assert empty.empty and "score" in empty.columns
    with pytest.raises(PredictionLogError, match="is not after start"):
        read_prediction_log(settings, T0, T0)


def test_postgres_source_without_url_or_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PredictionLogError, match="CREDIT_SCORING_DATABASE_URL"):
        read_prediction_log(Settings(home=tmp_path), T0, T0 + timedelta(hours=1), source="postgres")
    missing = "postgresql://postgres@127.0.0.1:5432/no_such_db_cs_test"
    settings = Settings(home=tmp_path, database_url=missing)
    with pytest.raises(PredictionLogError, match=r"decision ledger.*no_such_db_cs_test"):
        read_prediction_log(settings, T0, T0 + timedelta(hours=1))
