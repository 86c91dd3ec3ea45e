"""A failing gate tags the version, moves no alias and exits 3 listing every failed check;
an idempotency key never registers a second version."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from mlflow import MlflowClient
from test_cli_flow import aliases, cli_env, run_cli

from credit_scoring.config import Settings
from credit_scoring.registry.promotion import PromotionError, promote
from credit_scoring.training.pipeline import train
from credit_scoring.validation.gate import validate_version

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_failed_gate_moves_nothing(settings: Settings, tmp_path: Path) -> None:
    result = train(settings=settings)
    strict = settings.model_copy(update={"gate_min_auc": 0.99, "gate_max_brier": 0.01})
    report = validate_version(result.version, strict)
    assert not report.passed
    assert report.failed_checks == ["auc >= 0.99", "brier <= 0.01"]
    client = MlflowClient(settings.resolved_tracking_uri, settings.resolved_tracking_uri)
    mv = client.get_model_version(settings.model_name, str(result.version))
    assert mv.tags["validation_status"] == "failed"
    assert "auc >= 0.99" in mv.tags["gate_failed_checks"]
    assert client.get_registered_model(settings.model_name).aliases == {}
    with pytest.raises(PromotionError, match="validation_status='failed'"):
        promote(result.version, "try anyway", "ci", settings)
    # the report and model card are logged even for a failure
    paths = {a.path for a in client.list_artifacts(result.run_id, "validation")}
    assert "validation/model_card.html" in paths

    env = cli_env(settings.home, None)
    env.update(CREDIT_SCORING_GATE_MIN_AUC="0.99", CREDIT_SCORING_GATE_MIN_KS="0.9")
    proc = run_cli(env, "validate", "--version", str(result.version), expect=3)
    assert "auc >= 0.99" in proc.stderr and "ks >= 0.9" in proc.stderr
    assert aliases(env) == {}


def test_idempotency_key_reuses_the_version(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # Quotes in keys: the registry search must match them exactly, not break or widen.
    with caplog.at_level(logging.INFO, logger="credit_scoring.training.pipeline"):
        first = train(settings=settings, idempotency_key="airflow 'run' 1")
    logged = [r.getMessage() for r in caplog.records if r.name.endswith("pipeline")]
    again = train(settings=settings, idempotency_key="airflow 'run' 1")
    assert again.reused and (again.version, again.run_id) == (first.version, first.run_id)
    steps: list[str] = []
    other = train(settings=settings, idempotency_key="airflow 'run' \"2\"", on_step=steps.append)
    assert not other.reused and other.version == first.version + 1
    # Progress: plain log lines by default (Airflow task logs), the caller's callback otherwise.
    assert steps[0] == logged[0] == "Splitting 1,000 rows (test 25%)"
    assert steps == logged and steps[-1] == f"Registering a new version of {settings.model_name!r}"


def test_model_card_shows_gate_and_plots(settings: Settings, tmp_path: Path) -> None:
    result = train(settings=settings)
    report = validate_version(result.version, settings)
    client = MlflowClient(settings.resolved_tracking_uri, settings.resolved_tracking_uri)
    card = Path(
        client.download_artifacts(result.run_id, "validation/model_card.html", str(tmp_path))
    ).read_text()
    assert report.passed
    assert "PASSED" in card and "approval-rate ratio (sex)" in card
    # ROC, calibration, KS, scores, SHAP, the additive model's feature effects, model choice.
    assert card.count("data:image/png;base64,") == 7
    assert "Feature effects" in card and "Model choice by evidence" in card
    assert "Bootstrap confidence intervals" in card
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    names = (
        "roc",
        "calibration",
        "ks",
        "score_distribution",
        "shap_summary",
        "feature_effects",
        "model_choice",
    )
    assert plots == {f"plots/{p}.png" for p in names}
