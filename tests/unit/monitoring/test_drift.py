"""Drift statistics on the bundled German Credit data: stable, shifted and too-small windows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.monitoring.report import (
    DriftReport,
    psi_band,
    render_html,
    render_plots,
    report_from_json,
)
from credit_scoring.monitoring.statistics import (
    DriftThresholds,
    categorical_psi,
    compute_drift,
    decision_drift,
    numeric_psi,
)

pytestmark = pytest.mark.unit

BUNDLED = Path(__file__).resolve().parents[3] / "src" / "credit_scoring" / "data" / "bundled"
WINDOW = {
    "window_start": datetime(2026, 1, 1, tzinfo=UTC),
    "window_end": datetime(2026, 1, 2, tzinfo=UTC),
}


@pytest.fixture(scope="module")
def schema() -> FeatureSchema:
    return FeatureSchema.load(BUNDLED / "german_credit.schema.yaml")


def _with_outputs(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    # A fixed risk function of two features, so shifted inputs shift the score as a model would.
    out = frame.copy()
    z = 0.04 * out["duration_in_month"] + 0.00008 * out["credit_amount"] - 2.2
    out["probability"] = 1 / (1 + np.exp(-z))
    out["score"] = 600 - 20 / np.log(2) * np.log(out["probability"] / (1 - out["probability"]) * 50)
    out["decision"] = np.where(
        out["probability"] < 0.15,
        "approve",
        np.where(out["probability"] >= 0.45, "decline", "review"),
    )
    return out


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return _with_outputs(pd.read_csv(BUNDLED / "german_credit.csv"), 0)


def test_psi_bands() -> None:
    assert psi_band(0.0) == "stable"
    assert psi_band(0.0999) == "stable"
    assert psi_band(0.10) == "moderate"
    assert psi_band(0.2499) == "moderate"
    assert psi_band(0.25) == "significant"


def test_numeric_psi_is_zero_for_identical_and_large_for_shifted() -> None:
    rng = np.random.default_rng(1)
    ref = pd.Series(rng.normal(0, 1, 5000), name="x")
    same, bins = numeric_psi(ref, ref.copy())
    assert same == pytest.approx(0.0, abs=1e-12)
    assert len(bins) == 10
    assert sum(b.reference for b in bins) == pytest.approx(1.0)
    shifted, _ = numeric_psi(ref, pd.Series(rng.normal(1, 1, 2000)))
    assert shifted > 0.25


def test_numeric_psi_matches_the_textbook_formula() -> None:
    # Two bins (edge at the reference median): 50/50 vs 80/20.
    ref = pd.Series([1.0, 2.0, 3.0, 4.0])
    cur = pd.Series([1.0] * 8 + [4.0] * 2)
    psi, bins = numeric_psi(ref, cur, n_bins=2)
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert psi == pytest.approx(expected, rel=1e-6)
    assert [b.current for b in bins] == pytest.approx([0.8, 0.2])


def test_numeric_psi_counts_missing_values_in_their_own_bin() -> None:
    ref = pd.Series(np.arange(100, dtype=float))
    cur = pd.Series([np.nan] * 50 + list(np.arange(50, dtype=float)))
    psi, bins = numeric_psi(ref, cur)
    assert bins[-1].bin == "(missing)" and bins[-1].current == pytest.approx(0.5)
    assert psi > 0.25


def test_categorical_psi_reports_unseen_categories() -> None:
    ref = pd.Series(["a"] * 50 + ["b"] * 50)
    cur = pd.Series(["a"] * 45 + ["b"] * 45 + ["zzz"] * 10)
    psi, bins, unseen, values = categorical_psi(ref, cur, ["a", "b", "c"])
    assert unseen == pytest.approx(0.10)
    assert values == ["zzz"]
    assert [b.bin for b in bins] == ["a", "b", "c", "(unseen)"]
    assert psi > 0.10


def test_decision_drift_detects_a_rate_change() -> None:
    ref = pd.Series(["approve"] * 600 + ["review"] * 300 + ["decline"] * 100)
    cur = pd.Series(["approve"] * 200 + ["review"] * 100 + ["decline"] * 200)
    d = decision_drift(ref, cur)
    assert d.reference["decline"] == pytest.approx(0.1)
    assert d.current["decline"] == pytest.approx(0.4)
    assert d.max_abs_change == pytest.approx(0.3)
    assert d.p_value is not None and d.p_value < 1e-10
    same = decision_drift(ref, ref.sample(frac=0.5, random_state=0))
    assert same.p_value is not None and same.p_value > 0.01


def test_unshifted_window_has_no_drift(
    data: pd.DataFrame, schema: FeatureSchema, settings: Settings
) -> None:
    reference = data.sample(700, random_state=1)
    current = data.sample(400, replace=True, random_state=2)
    report = compute_drift(
        reference, current, schema, DriftThresholds.from_settings(settings), **WINDOW
    )
    assert report.status in {"ok", "warning"}
    assert report.drift_detected is False, report.reasons
    assert report.score_psi is not None and report.score_psi < 0.10
    assert len(report.features) == len(schema.features)
    assert report.n_current == 400 and report.n_reference == 700


def test_shifted_window_is_drift_with_reasons(
    data: pd.DataFrame, schema: FeatureSchema, settings: Settings
) -> None:
    reference = data.sample(700, random_state=1)
    current = data.sample(400, replace=True, random_state=3).reset_index(drop=True)
    current["credit_amount"] = current["credit_amount"] * 2.5
    current["duration_in_month"] = current["duration_in_month"] * 2
    current.loc[:59, "purpose"] = "crypto"
    current = _with_outputs(current, 0)
    report = compute_drift(
        reference, current, schema, DriftThresholds.from_settings(settings), **WINDOW
    )
    assert report.drift_detected and report.status == "drift"
    joined = " | ".join(report.reasons)
    assert "feature 'credit_amount': PSI" in joined
    assert "score: PSI" in joined
    assert "unseen categories" in joined and "crypto" in joined
    assert "decision rates moved" in joined
    purpose = next(f for f in report.features if f.name == "purpose")
    assert purpose.unseen_share == pytest.approx(0.15)
    assert report.score_band == "significant"


def test_missing_rate_increase_is_drift(
    data: pd.DataFrame, schema: FeatureSchema, settings: Settings
) -> None:
    reference = data.sample(700, random_state=1)
    current = data.sample(400, replace=True, random_state=4).reset_index(drop=True)
    current["savings_account_and_bonds"] = current["savings_account_and_bonds"].astype(object)
    current.loc[:99, "savings_account_and_bonds"] = None
    report = compute_drift(
        reference, current, schema, DriftThresholds.from_settings(settings), **WINDOW
    )
    feat = next(f for f in report.features if f.name == "savings_account_and_bonds")
    assert feat.missing_rate_current == pytest.approx(0.25)
    assert any("missing rate 25.0%" in r for r in report.reasons)


def test_small_window_is_insufficient_data_not_drift(
    data: pd.DataFrame, schema: FeatureSchema, settings: Settings
) -> None:
    current = data.head(30).copy()
    current["credit_amount"] *= 10  # would be drift if judged
    report = compute_drift(data, current, schema, DriftThresholds.from_settings(settings), **WINDOW)
    assert report.status == "insufficient_data"
    assert report.drift_detected is False
    assert "insufficient data: 30 prediction(s)" in report.message
    assert report.features == [] and render_plots(report) == {}
    assert "insufficient_data" in render_html(report)


def test_empty_window_is_insufficient_data(
    data: pd.DataFrame, schema: FeatureSchema, settings: Settings
) -> None:
    report = compute_drift(
        data, data.iloc[0:0], schema, DriftThresholds.from_settings(settings), **WINDOW
    )
    assert report.status == "insufficient_data" and report.n_current == 0


def test_min_rows_setting_is_respected(
    data: pd.DataFrame, schema: FeatureSchema, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, monitor_min_rows=20)
    report = compute_drift(
        data,
        data.sample(40, random_state=5),
        schema,
        DriftThresholds.from_settings(settings),
        **WINDOW,
    )
    assert report.status != "insufficient_data"
    # Small windows get fewer bins (about 20 rows each).
    assert len(report.score_bins) <= 2


def test_report_round_trips_and_renders_html_with_plots(
    data: pd.DataFrame, schema: FeatureSchema, settings: Settings
) -> None:
    report = compute_drift(
        data,
        data.sample(300, random_state=6),
        schema,
        DriftThresholds.from_settings(settings),
        **WINDOW,
    )
    again = report_from_json(report.to_json())
    assert isinstance(again, DriftReport) and again == report
    plots = render_plots(report)
    assert set(plots) == {"score_distribution.png", "feature_psi.png", "decision_rates.png"}
    assert all(p.startswith(b"\x89PNG") for p in plots.values())
    html = render_html(report, plots)
    assert html.count("data:image/png;base64,") == 3
    assert "credit_amount" in html and "PSI" in html
