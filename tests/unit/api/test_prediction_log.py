"""The prediction log never blocks, writes the contract's rows and loses nothing on close."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from credit_scoring.api.metrics import ApiMetrics
from credit_scoring.api.prediction_log import JsonlSink, PredictionLogger, Row
from credit_scoring.config import Settings
from credit_scoring.monitoring.prediction_log import read_prediction_log
from credit_scoring.predictions.record import make_row

pytestmark = pytest.mark.unit


def _row(i: int, ts: datetime | None = None) -> Row:
    return make_row(
        request_id=f"r{i}",
        model_name="credit-scoring",
        model_version="3",
        inputs={"duration_in_month": i, "purpose": "business"},
        probability=0.1,
        score=650.0,
        decision="approve",
        latency_ms=1.5,
        ts=ts,
    )


def test_rows_are_written_and_readable_by_monitoring(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, auth_disabled=True)
    metrics = ApiMetrics()
    plog = PredictionLogger(JsonlSink(settings.prediction_log_dir), metrics, batch_size=7)
    plog.start()
    for i in range(100):
        plog.log([_row(i)])
    plog.close()
    files = list(settings.prediction_log_dir.glob("predictions-*.jsonl"))
    assert len(files) == 1
    lines = files[0].read_text(encoding="utf-8").splitlines()
    assert len(lines) == 100
    first = json.loads(lines[0])
    assert set(first) == {
        "request_id",
        "ts",
        "model_name",
        "model_version",
        "inputs",
        "probability",
        "score",
        "decision",
        "latency_ms",
    }
    assert first["ts"].endswith("Z")
    now = datetime.now(UTC)
    frame = read_prediction_log(
        settings, now.replace(hour=0, minute=0), now.replace(hour=23, minute=59), source="files"
    )
    assert len(frame) == 100
    assert sorted(frame["duration_in_month"]) == list(range(100))
    assert (
        metrics.registry.get_sample_value(
            "credit_scoring_prediction_log_written_total", {"sink": "jsonl"}
        )
        == 100
    )


def test_rows_go_to_the_file_of_their_utc_day(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path)
    sink.write(
        [
            _row(1, datetime(2026, 1, 2, 23, 59, tzinfo=UTC)),
            _row(2, datetime(2026, 1, 3, 0, 1, tzinfo=UTC)),
        ]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "predictions-2026-01-02.jsonl",
        "predictions-2026-01-03.jsonl",
    ]


class _FailingSink:
    name = "postgres"

    def __init__(self) -> None:
        self.calls = 0

    def write(self, rows: list[Row]) -> None:
        self.calls += 1
        raise ConnectionError("database down")

    def close(self) -> None:
        return None


def test_unwritable_primary_spills_to_fallback_on_close(tmp_path: Path) -> None:
    metrics = ApiMetrics()
    failing = _FailingSink()
    plog = PredictionLogger(failing, metrics, fallback=JsonlSink(tmp_path))
    plog.start()
    plog.log([_row(i) for i in range(10)])
    plog.close(timeout_s=30)
    lines = [ln for p in tmp_path.glob("*.jsonl") for ln in p.read_text().splitlines()]
    assert len(lines) == 10
    assert failing.calls >= 1
    assert (
        metrics.registry.get_sample_value(
            "credit_scoring_prediction_log_errors_total", {"sink": "postgres"}
        )
        >= 1
    )


def test_full_queue_drops_instead_of_blocking(tmp_path: Path) -> None:
    metrics = ApiMetrics()
    plog = PredictionLogger(JsonlSink(tmp_path), metrics, max_queue=5)
    # The writer is not started, so the queue fills up; log() must still return at once.
    done = threading.Event()

    def produce() -> None:
        plog.log([_row(i) for i in range(8)])
        done.set()

    threading.Thread(target=produce).start()
    assert done.wait(2)
    assert metrics.registry.get_sample_value("credit_scoring_prediction_log_dropped_total") == 3
    assert plog.pending == 5
