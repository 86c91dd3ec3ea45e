"""The challenger report on constructed shadow pairs: agreement matrix, swaps, approval rates,
four-fifths ratios per live group, PD PSI; the shadow log read back from the API's own sink."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from credit_scoring.config import Settings
from credit_scoring.data.schema import Feature, FeatureSchema, ProtectedAttribute, Target
from credit_scoring.evaluation.psi import psi
from credit_scoring.monitoring.compare import compute_compare, render_html, render_plots
from credit_scoring.monitoring.shadow_log import read_shadow_log
from credit_scoring.predictions import shadow

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _pairs(served: list[str], challenger: list[str]) -> pd.DataFrame:
    n = len(served)
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "decision_id": [f"r{i}" for i in range(n)],
            "ts": [T0] * n,
            "model_name": "credit-scoring",
            "served_version": "1",
            "served_probability": rng.uniform(0.01, 0.6, n),
            "served_decision": served,
            "shadow_alias": "staging",
            "shadow_version": "2",
            "shadow_probability": rng.uniform(0.01, 0.6, n),
            "shadow_score": 600.0,
            "shadow_decision": challenger,
            "shadow_grade": "C",
        }
    )


def _schema() -> FeatureSchema:
    return FeatureSchema(
        target=Target(name="y", positive=[1], negative=[0]),
        features=[Feature(name="age", type="numeric", min=18, max=100)],
        protected=[ProtectedAttribute(name="age_band", source="age", bins=[30])],
    )


def test_compare_counts_and_four_fifths(settings: Settings) -> None:
    # 100 young (age 25), 100 older (age 50). Champion approves 80% of both; the challenger
    # approves 50% of the young and 80% of the older: ratio 0.625 < 0.8.
    served = (["approve"] * 80 + ["decline"] * 20) * 2
    young = ["approve"] * 50 + ["decline"] * 30 + ["approve"] * 10 + ["review"] * 10
    older = ["approve"] * 80 + ["decline"] * 20
    pairs = _pairs(served, young + older)
    inputs = pd.DataFrame({"decision_id": pairs["decision_id"], "age": [25] * 100 + [50] * 100})
    settings = settings.model_copy(update={"gate_favourable_outcome": "approve"})
    report = compute_compare(
        pairs,
        inputs,
        _schema(),
        settings,
        champion=("production", "1"),
        challenger=("staging", "2"),
        window=(T0, T0 + timedelta(days=1)),
    )
    assert report.n_pairs == 200
    assert report.agreement_matrix["approve"] == {"approve": 130, "review": 0, "decline": 30}
    assert report.agreement_matrix["decline"] == {"approve": 10, "review": 10, "decline": 20}
    assert report.agreement_rate == pytest.approx(150 / 200)
    assert report.flip_rate == pytest.approx(40 / 200)
    # approve only counts: swap-out = champion approve, challenger not (30); swap-in 10.
    assert (report.swap_out, report.swap_in) == (30, 10)
    assert set(report.swap_in_ids) == {f"r{i}" for i in range(80, 90)}
    assert report.champion_approval_rate == pytest.approx(0.8)
    assert report.challenger_approval_rate == pytest.approx(140 / 200)
    assert report.approval_rate_delta == pytest.approx(-0.1)
    (fair,) = report.fairness
    assert fair.champion_ratio == pytest.approx(1.0)
    assert fair.challenger_ratio == pytest.approx(0.6 / 0.8)
    assert fair.passes is False
    assert report.pd_psi == pytest.approx(
        psi(pairs["served_probability"], pairs["shadow_probability"])
    )
    html = render_html(report, render_plots(pairs, report))
    assert "Four-fifths" in html and "fails" in html and "pd_scatter.png" in html


def test_no_pairs_is_reported_not_guessed(settings: Settings) -> None:
    report = compute_compare(
        _pairs([], []),
        None,
        _schema(),
        settings,
        champion=("production", "1"),
        challenger=("staging", "2"),
        window=(T0, T0 + timedelta(days=1)),
    )
    assert report.n_pairs == 0 and report.agreement_rate is None
    assert report.notes == ["no shadow pairs of these versions in the window"]


def test_shadow_log_round_trip(settings: Settings) -> None:
    pairs = _pairs(["approve", "decline"], ["review", "decline"])
    rows = pairs.to_dict(orient="records")
    for row in rows:
        row["ts"] = T0
    writer = shadow.ShadowLogWriter(settings)
    writer.write(rows)  # type: ignore[arg-type]
    writer.close()
    assert writer.written == 2 and writer.fallback == 0
    back = read_shadow_log(settings, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert list(back.columns) == list(shadow.COLUMNS)
    assert back["shadow_decision"].tolist() == ["review", "decline"]
    assert read_shadow_log(settings, T0 + timedelta(hours=1), T0 + timedelta(hours=2)).empty


def test_promotion_checks_from_the_compare_tags(settings: Settings) -> None:
    from credit_scoring.registry.live_evidence import live_compare_checks

    never = live_compare_checks({}, settings)
    assert [c.failed for c in never] == [True, True, False]  # no ratio: not judged
    tags = {
        "live_compare_pairs": "5000",
        "live_compare_flip_rate": "0.010000",
        "live_compare_min_fairness_ratio": "0.700000",
        "live_compare_at": "2026-03-01T00:00:00+00:00",
    }
    pairs, flips, fairness = live_compare_checks(tags, settings)
    assert pairs.passed and flips.passed and fairness.failed
    assert fairness.value == pytest.approx(0.7)
