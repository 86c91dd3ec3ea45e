"""The statistical gate: confidence intervals, a paired champion test on rows neither model
trained on, and no crash when a refreshed dataset goes beyond the champion's ranges."""

from __future__ import annotations

from pathlib import Path

import pytest

from credit_scoring.config import Settings
from credit_scoring.data.io import load_german_credit
from credit_scoring.registry.promotion import promote
from credit_scoring.training.pipeline import train
from credit_scoring.validation.gate import validate_version

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_champion_compared_on_unseen_rows_and_refresh_never_crashes(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"cv_max_rows": 0, "gate_bootstrap_samples": 200})
    data = tmp_path / "applications.csv"
    load_german_credit().to_csv(data, index=False)
    first = train(data, "creditability", settings=settings)  # inferred schema: observed ranges
    report = validate_version(first.version, settings)
    assert report.passed, report.failed_checks
    auc = report.intervals["auc"]
    assert auc["lower"] < report.metrics["auc"] < auc["upper"]
    assert report.champion["champion_version"] is None
    promote(first.version, "first model", "test", settings)

    # Same data, another split: part of the challenger's holdout trained the champion.
    reseeded = settings.model_copy(update={"seed": 7})
    second = train(data, "creditability", settings=reseeded)
    report = validate_version(second.version, reseeded)
    comparison = report.champion
    assert comparison["champion_version"] == first.version
    assert comparison["champion_training_rows_dropped"] > 0
    assert comparison["rows_compared"] == 250 - comparison["champion_training_rows_dropped"]
    methods = {d["metric"]: d["method"] for d in comparison["differences"]}
    assert methods == {"auc": "DeLong", "ks": "paired bootstrap", "brier": "paired bootstrap"}
    champion_checks = [c for c in report.checks if c.category == "champion"]
    assert len(champion_checks) == 3 and all(c.passed is not None for c in champion_checks)

    # A data refresh: amounts 10% higher than anything the champion saw.
    refreshed = load_german_credit()
    refreshed["credit_amount"] = (refreshed["credit_amount"] * 1.1).round().astype("int64")
    refreshed_path = tmp_path / "refreshed.csv"
    refreshed.to_csv(refreshed_path, index=False)
    third = train(refreshed_path, "creditability", settings=settings)
    report = validate_version(third.version, settings)
    comparison = report.champion
    assert comparison["out_of_range_rows"] > 0
    assert comparison["champion_training_rows_dropped"] == 0  # every row changed
    assert comparison["rows_compared"] == 250
    assert "outside the champion's ranges" in next(
        c.detail for c in report.checks if c.category == "champion"
    )


def test_thresholds_can_judge_the_lower_bound(settings: Settings) -> None:
    settings = settings.model_copy(update={"cv_max_rows": 0, "gate_bootstrap_samples": 200})
    result = train(settings=settings)
    point = validate_version(result.version, settings)
    auc = point.metrics["auc"]
    lower = point.intervals["auc"]["lower"]
    # A floor between the lower bound and the point: passes on the point, fails on the bound.
    floor = round((auc + lower) / 2, 4)
    on_point = settings.model_copy(update={"gate_min_auc": floor})
    on_bound = on_point.model_copy(update={"gate_statistic": "bound"})
    assert "auc >= " + f"{floor:g}" not in validate_version(result.version, on_point).failed_checks
    assert f"auc >= {floor:g}" in validate_version(result.version, on_bound).failed_checks
