"""Outcomes intake: joined to logged decisions, stored once, every row accounted for.

Real stores: SQLite (embedded) and a fresh PostgreSQL database (prediction log table and
outcomes table side by side); the decisions are written by the API's own prediction-log sinks.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pydantic import SecretStr

from credit_scoring.config import Settings
from credit_scoring.ledger import open_ledger
from credit_scoring.outcomes.intake import (
    OutcomesError,
    read_outcomes_file,
    record_outcomes,
)
from credit_scoring.outcomes.store import Outcome, OutcomeStore
from credit_scoring.predictions.record import DecisionRecord, make_record

DECIDED = datetime(2026, 1, 10, 12, tzinfo=UTC)


def _append(settings: Settings, records: list[DecisionRecord]) -> None:
    """Store decisions as the API does: in the decision ledger."""
    store = open_ledger(settings)
    try:
        store.append(records)
    finally:
        store.close()


def _decision(
    settings: Settings, decision_id: str, ts: datetime, key: str | None = None
) -> DecisionRecord:
    return make_record(
        decision_id=decision_id,
        request_id=decision_id,
        model_name=settings.model_name,
        model_version="3",
        inputs={"age": 30},
        probability=0.1,
        score=600.0,
        decision="approve",
        reasons=[],
        latency_ms=1.0,
        ts=ts,
        application_key=key,
    )


def _log_decisions(settings: Settings, n: int) -> list[str]:
    rows = [_decision(settings, f"req-{i}", DECIDED) for i in range(n)]
    _append(settings, rows)  # PostgreSQL when the settings have a database, else SQLite
    return [r["decision_id"] for r in rows]


def _check_intake(settings: Settings) -> None:
    ids = _log_decisions(settings, 6)
    later = DECIDED.date() + timedelta(days=200)
    batch = [
        Outcome(ids[0], 1, later),
        Outcome(ids[1], 0, later),
        Outcome(ids[1], 1, later),  # duplicate within the input: the first counts
        Outcome("nobody", 1, later),  # unknown
        Outcome(ids[2], 1, DECIDED.date() - timedelta(days=1)),  # before the decision
        Outcome(ids[3], 1, DECIDED.date() + timedelta(days=400)),  # beyond the 365-day window
        Outcome(ids[4], 0, later),
    ]
    report = record_outcomes(settings, batch, source="test")
    assert report.received == 7
    assert report.recorded == 3
    assert report.rejected == {
        "duplicate": [ids[1]],
        "unknown": ["nobody"],
        "before_decision": [ids[2]],
        "late": [ids[3]],
    }
    assert report.received == report.recorded + report.rejected_count
    stored = OutcomeStore(settings).fetch()
    assert {k: v.defaulted for k, v in stored.items()} == {ids[0]: 1, ids[1]: 0, ids[4]: 0}

    # Sent again: nothing overwritten, everything reported.
    again = record_outcomes(settings, [Outcome(ids[0], 0, later), Outcome(ids[5], 1, later)], "t")
    assert (again.recorded, again.rejected["duplicate"]) == (1, [ids[0]])
    assert OutcomeStore(settings).fetch([ids[0]])[ids[0]].defaulted == 1


def _check_intake_by_key(settings: Settings) -> None:
    """Outcomes named by application key go to the earliest decision of the key within the
    performance window before the observation; every row still accounted for."""

    def scored(key: str, day: int) -> DecisionRecord:
        return _decision(settings, f"{key}@{day}", DECIDED + timedelta(days=day), key)

    # k1 scored at day 0 and re-scored at days 100 and 500; k2 only at day 0; k3 only at day 300
    _append(settings, [scored("k1", 0), scored("k1", 100), scored("k1", 500)])
    _append(settings, [scored("k2", 0), scored("k3", 300)])
    day = DECIDED.date()
    batch = [
        Outcome("", 1, day + timedelta(days=200), application_key="k1"),  # -> k1@0
        Outcome("", 1, day + timedelta(days=420), application_key="k1"),  # day 0 too old -> k1@100
        Outcome("", 0, day + timedelta(days=201), application_key="k1"),  # k1@0 again: duplicate
        Outcome("", 1, day + timedelta(days=400), application_key="k2"),  # after the window: late
        Outcome("", 1, day + timedelta(days=10), application_key="k3"),  # before its decision
        Outcome("", 1, day, application_key="nobody"),
    ]
    report = record_outcomes(settings, batch, source="test")
    assert (report.received, report.recorded) == (6, 2)
    assert report.rejected == {
        "duplicate": ["k1"],
        "unknown": ["nobody"],
        "before_decision": ["k3"],
        "late": ["k2"],
    }
    stored = OutcomeStore(settings).fetch()
    assert {k: v.defaulted for k, v in stored.items()} == {"k1@0": 1, "k1@100": 1}
    # The decision id and the key name the same decision: recorded once.
    again = record_outcomes(settings, [Outcome("k1@0", 0, day + timedelta(days=5))], "t")
    assert again.rejected["duplicate"] == ["k1@0"]


def test_intake_by_application_key_embedded(settings: Settings) -> None:
    _check_intake_by_key(settings)


def test_intake_by_application_key_postgres(settings: Settings, pg_url: str) -> None:
    _check_intake_by_key(settings.model_copy(update={"database_url": SecretStr(pg_url)}))


def test_intake_embedded(settings: Settings) -> None:
    _check_intake(settings)
    assert (settings.home / "outcomes.db").is_file()


def test_intake_postgres(settings: Settings, pg_url: str) -> None:
    _check_intake(settings.model_copy(update={"database_url": SecretStr(pg_url)}))
    assert not (settings.home / "outcomes.db").exists()


def test_file_errors_name_column_and_rows(tmp_path: Path) -> None:
    good = tmp_path / "ok.csv"
    pd.DataFrame(
        {
            "request_id": ["a", "b"],
            "default_flag": ["1", "false"],
            "observed_at": ["2026-05-01"] * 2,
        }
    ).to_csv(good, index=False)
    assert read_outcomes_file(good) == [
        Outcome("a", 1, date(2026, 5, 1)),
        Outcome("b", 0, date(2026, 5, 1)),
    ]
    bad = tmp_path / "bad.csv"
    pd.DataFrame(
        {"decision_id": ["a", "", "c"], "defaulted": ["1", "2", "0"], "observation_date": ["x"] * 3}
    ).to_csv(bad, index=False)
    with pytest.raises(OutcomesError) as err:
        read_outcomes_file(bad)
    text = str(err.value)
    assert "'decision_id': empty id at row 3" in text
    assert "'defaulted': not 0/1 at row 3" in text
    assert "'observation_date': not an ISO date" in text and "rows 2, 3, 4" in text
    keyed = tmp_path / "keyed.csv"
    pd.DataFrame(
        {"application_key": ["k1"], "defaulted": ["1"], "observation_date": ["2026-05-01"]}
    ).to_csv(keyed, index=False)
    assert read_outcomes_file(keyed) == [Outcome("", 1, date(2026, 5, 1), application_key="k1")]
    both = tmp_path / "both.csv"
    pd.DataFrame(
        {"decision_id": ["a"], "application_key": ["k1"], "defaulted": [1], "observed_at": ["x"]}
    ).to_csv(both, index=False)
    with pytest.raises(OutcomesError, match="ambiguous decision id or application key"):
        read_outcomes_file(both)
    missing = tmp_path / "missing.csv"
    pd.DataFrame({"decision_id": ["a"], "defaulted": [1]}).to_csv(missing, index=False)
    with pytest.raises(OutcomesError, match="observation date: one of observation_date"):
        read_outcomes_file(missing)
