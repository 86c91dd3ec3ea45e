"""The shadow log's writer against real PostgreSQL (a fresh database from ``pg_url``): pairs go
to the ``shadow_log`` table; with the database unreachable they go to the day's JSON Lines file
instead, and the ``auto`` reader returns every pair once (counts in = counts out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from credit_scoring.config import Settings
from credit_scoring.monitoring.shadow_log import read_shadow_log
from credit_scoring.predictions.shadow import ShadowLogWriter, ShadowRow, log_dir

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)


def _pairs(prefix: str, n: int) -> list[ShadowRow]:
    return [
        {
            "decision_id": f"{prefix}-{i}",
            "ts": T0 + timedelta(minutes=20 * i),  # crosses midnight: two files
            "model_name": "credit-scoring",
            "served_version": "1",
            "served_probability": 0.1,
            "served_decision": "approve",
            "shadow_alias": "staging",
            "shadow_version": "2",
            "shadow_probability": 0.4,
            "shadow_score": 610.0,
            "shadow_decision": "decline" if i % 2 else "approve",
            "shadow_grade": "F",
        }
        for i in range(n)
    ]


def test_table_then_file_fallback_read_back_once(tmp_path: Path, pg_url: str) -> None:
    settings = Settings(home=tmp_path, database_url=pg_url)
    writer = ShadowLogWriter(settings)
    writer.write(_pairs("db", 5))
    writer.write(_pairs("db2", 3))
    writer.close()
    assert (writer.written, writer.fallback) == (8, 0)
    assert not log_dir(settings).exists()

    # The same database URL on a closed port: the batch lands in the files, nothing is lost.
    down = Settings(
        home=tmp_path, database_url=SecretStr("postgresql://postgres@127.0.0.1:9/nowhere")
    )
    fallback = ShadowLogWriter(down)
    fallback.write(_pairs("file", 4))
    fallback.close()
    assert (fallback.written, fallback.fallback) == (4, 4)
    assert len(list(log_dir(settings).glob("shadow-*.jsonl"))) == 2

    window = (T0 - timedelta(hours=1), T0 + timedelta(hours=3))
    both = read_shadow_log(settings, *window)
    assert len(both) == 12 and both["decision_id"].is_unique
    assert sorted(both["shadow_decision"].value_counts().tolist()) == [5, 7]
    assert len(read_shadow_log(settings, *window, source="postgres")) == 8
    assert len(read_shadow_log(settings, *window, source="embedded")) == 4
