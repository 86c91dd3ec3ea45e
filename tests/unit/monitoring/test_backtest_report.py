"""The backtest report without MLflow: lights and alerts, Prometheus text, HTML, migration of
application keys scored at two dates (in the decision ledger)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from credit_scoring.config import Settings
from credit_scoring.ledger import open_ledger
from credit_scoring.monitoring.backtest import (
    BacktestReport,
    compute_backtest,
    migration_between,
    prometheus_text,
    render_html,
)
from credit_scoring.predictions.record import DecisionRecord, make_record
from credit_scoring.scoring.grades import MasterScale

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _append(settings: Settings, records: list[DecisionRecord]) -> None:
    """Store decisions as the API does: in the decision ledger."""
    store = open_ledger(settings)
    try:
        store.append(records)
    finally:
        store.close()


def _report(pds: np.ndarray, defaulted: np.ndarray, **kwargs: float) -> BacktestReport:
    frame = pd.DataFrame({"probability": pds, "defaulted": defaulted})
    return compute_backtest(
        frame,
        MasterScale(),
        model_name="m",
        model_version="7",
        window_start=T0,
        window_end=T0 + timedelta(days=30),
        **kwargs,
    )


def test_lights_alerts_and_exports() -> None:
    rng = np.random.default_rng(0)
    pd_ = rng.uniform(0.02, 0.3, 4000)
    y = (rng.uniform(size=4000) < pd_).astype(float)
    y[:500] = np.nan  # pending
    good = _report(pd_, y, holdout_auc=0.70)
    assert good.status == "green" and good.n_pending == 500
    assert good.estimated_pending.n == 500

    low = pd_ / 3  # the model promised a third of the risk
    bad = _report(low, y, holdout_auc=0.99)
    assert bad.status == "red"
    alerts = " ".join(bad.alerts)
    assert "backtest red" in alerts and "estimated AUC" in alerts

    families = {f.name: f for f in text_string_to_metric_families(prometheus_text(bad).decode())}
    assert families["credit_scoring_backtest_status"].samples[0].value == 2
    lights = {
        s.labels["grade"]: s.value for s in families["credit_scoring_backtest_grade_light"].samples
    }
    assert 2 in lights.values()
    html = render_html(bad)
    assert "red" in html and "grades.png" in html and "Hosmer-Lemeshow" in html


def test_too_few_outcomes_is_insufficient_data() -> None:
    report = _report(np.full(50, 0.1), np.zeros(50))
    assert report.status == "insufficient_data"
    assert report.grades == []


def _decisions(
    settings: Settings, day: date, pds: dict[str, float], keyed: bool = True
) -> list[DecisionRecord]:
    ts = datetime.combine(day, datetime.min.time(), UTC)
    return [
        make_record(
            decision_id=f"{key}-{day.isoformat()}",  # one decision per scoring
            request_id=f"{key}-{day.isoformat()}",
            model_name=settings.model_name,
            model_version="1",
            inputs={},
            probability=p,
            score=600.0,
            decision="approve",
            reasons=[],
            latency_ms=1.0,
            ts=ts,
            application_key=key if keyed else None,
        )
        for key, p in pds.items()
    ]


def test_migration_between_two_dates(settings: Settings) -> None:
    """The same applicants (application keys) scored in January and February: each key's latest
    grade on or before each date, read back from the decision ledger."""
    scale = MasterScale()
    first = {"a": 0.003, "b": 0.03, "c": 0.2, "d": 0.5}  # grades A, D, G, H
    later = {"a": 0.003, "b": 0.1, "c": 0.03, "e": 0.01}  # a stays, b D->F, c G->D, e only later
    _append(settings, _decisions(settings, date(2026, 1, 10), first))
    _append(settings, _decisions(settings, date(2026, 2, 10), later))
    # b re-scored again in January after the first score: the latest January grade counts (E).
    _append(settings, _decisions(settings, date(2026, 1, 12), {"b": 0.05}))
    # Decisions without a key cannot migrate: counted, not matched.
    _append(settings, _decisions(settings, date(2026, 1, 11), {"x": 0.3, "y": 0.3}, keyed=False))
    m = migration_between(settings, scale, date(2026, 1, 15), date(2026, 2, 15))
    assert m.n == 4  # a, b, c, d (d keeps its January grade at the later date)
    assert (m.only_from, m.only_to, m.without_key) == (0, 1, 2)  # e scored in February only
    idx = {label: i for i, label in enumerate(scale.labels)}
    counts = np.array(m.counts)
    assert counts[idx["A"], idx["A"]] == 1
    assert counts[idx["E"], idx["F"]] == 1
    assert counts[idx["G"], idx["D"]] == 1
    assert counts[idx["H"], idx["H"]] == 1
    assert counts.sum() == 4
    assert m.shares[idx["E"]][idx["F"]] == 1.0

    # Before anyone was re-scored: every key on the diagonal, e not yet known.
    early = migration_between(settings, scale, date(2026, 1, 10), date(2026, 1, 11))
    assert early.n == 4 and np.trace(np.array(early.counts)) == 4
    with pytest.raises(ValueError, match="before date_from"):
        migration_between(settings, scale, date(2026, 2, 15), date(2026, 1, 15))
