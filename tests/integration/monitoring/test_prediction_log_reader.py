"""The monitoring reader reads exactly what the scoring API's prediction-log sinks write.

Rows are written with the API's own ``JsonlSink`` and ``PostgresSink`` (real PostgreSQL at
127.0.0.1:5432, a fresh database per test from the suite's ``pg_url`` fixture), then read back
for a window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from credit_scoring.api.prediction_log import JsonlSink, PostgresSink
from credit_scoring.config import Settings
from credit_scoring.monitoring.prediction_log import PredictionLogError, read_prediction_log
from credit_scoring.predictions.record import make_row

pytestmark = pytest.mark.integration

T0 = datetime(2026, 2, 1, 22, 0, tzinfo=UTC)


def _rows(
    n: int, start: datetime, step: timedelta, model: str = "credit-scoring"
) -> list[dict[str, Any]]:
    return [
        make_row(
            request_id=f"{model}-{start:%H%M}-{i}",
            model_name=model,
            model_version="3",
            inputs={
                "duration_in_month": 12 + i,
                "purpose": "car (new)",
                "credit_amount": 1000.5 * (i + 1),
            },
            probability=0.1 + i / 1000,
            score=600.0 - i,
            decision="approve" if i % 2 else "review",
            latency_ms=0.8,
            ts=start + i * step,
        )
        for i in range(n)
    ]


def test_jsonl_window_spans_days_and_filters_model(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    sink = JsonlSink(settings.prediction_log_dir)
    # 10 rows every 30 min from 22:00: they span two daily files.
    sink.write(_rows(10, T0, timedelta(minutes=30)))
    sink.write(_rows(3, T0, timedelta(minutes=30), model="other-model"))
    assert len(list(settings.prediction_log_dir.glob("predictions-*.jsonl"))) == 2

    frame = read_prediction_log(settings, T0 + timedelta(minutes=30), T0 + timedelta(hours=4))
    assert len(frame) == 7  # [22:30, 02:00): rows 1..7
    assert frame["ts"].is_monotonic_increasing
    assert str(frame["ts"].dt.tz) == "UTC"
    assert frame["ts"].min() == pd.Timestamp(T0 + timedelta(minutes=30))
    assert set(frame["model_name"]) == {"credit-scoring"}
    assert frame["credit_amount"].tolist()[0] == pytest.approx(2001.0)
    assert frame["purpose"].unique().tolist() == ["car (new)"]
    assert {"probability", "score", "decision", "model_version"} <= set(frame.columns)
    assert frame["model_version"].unique().tolist() == ["3"]

    other = read_prediction_log(settings, T0, T0 + timedelta(hours=4), model_name="other-model")
    assert len(other) == 3


def test_jsonl_empty_window_and_bad_window(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    empty = read_prediction_log(settings, T0, T0 + timedelta(hours=1))
    assert empty.empty and "score" in empty.columns
    with pytest.raises(PredictionLogError, match="is not after start"):
        read_prediction_log(settings, T0, T0)


def test_jsonl_corrupt_line_names_file_and_line(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    JsonlSink(settings.prediction_log_dir).write(_rows(2, T0, timedelta(minutes=1)))
    file = settings.prediction_log_dir / f"predictions-{T0:%Y-%m-%d}.jsonl"
    with file.open("a") as fh:
        fh.write("{not json}\n")
    with pytest.raises(PredictionLogError, match=r"predictions-2026-02-01\.jsonl:3"):
        read_prediction_log(settings, T0, T0 + timedelta(hours=1))


def test_jsonl_half_written_last_line_is_ignored(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    JsonlSink(settings.prediction_log_dir).write(_rows(2, T0, timedelta(minutes=1)))
    file = settings.prediction_log_dir / f"predictions-{T0:%Y-%m-%d}.jsonl"
    with file.open("a") as fh:
        fh.write('{"request_id": "x", "ts": "2026-02')  # the API is still appending
    assert len(read_prediction_log(settings, T0, T0 + timedelta(hours=1))) == 2


def test_postgres_window_and_file_fallback_merge(tmp_path: Path, pg_url: str) -> None:
    settings = Settings(home=tmp_path, database_url=pg_url)
    sink = PostgresSink(pg_url)
    try:
        sink.write(_rows(10, T0, timedelta(minutes=30)))
        sink.write(_rows(4, T0, timedelta(minutes=30), model="other-model"))
    finally:
        sink.close()
    end = T0 + timedelta(hours=4)

    frame = read_prediction_log(settings, T0, end, source="postgres")
    assert len(frame) == 8
    assert frame["ts"].is_monotonic_increasing and str(frame["ts"].dt.tz) == "UTC"
    assert frame["duration_in_month"].tolist()[:3] == [12, 13, 14]
    assert set(frame["decision"]) == {"approve", "review"}

    # Rows the API wrote to its file fallback while the database was down are read too (auto),
    # and a row present in both places is counted once.
    fallback = _rows(2, T0 + timedelta(minutes=10), timedelta(minutes=1))
    fallback[0]["request_id"] = "credit-scoring-2200-0"  # duplicate of a database row
    JsonlSink(settings.prediction_log_dir).write(fallback)
    merged = read_prediction_log(settings, T0, end)
    assert len(merged) == 9
    assert merged["ts"].is_monotonic_increasing


def test_postgres_source_without_url_or_table_is_a_clear_error(tmp_path: Path, pg_url: str) -> None:
    with pytest.raises(PredictionLogError, match="CREDIT_SCORING_DATABASE_URL"):
        read_prediction_log(Settings(home=tmp_path), T0, T0 + timedelta(hours=1), source="postgres")
    settings = Settings(home=tmp_path, database_url=pg_url)
    with pytest.raises(PredictionLogError, match="prediction_log"):
        read_prediction_log(settings, T0, T0 + timedelta(hours=1))
