"""Where a training run takes its data: the given file, the configured location, or the bundled
demo data only where ``demo_data`` allows it (a deployment never retrains on it silently)."""

from __future__ import annotations

from pathlib import Path

import pytest

from credit_scoring.config import Settings
from credit_scoring.training.pipeline import data_location, train

pytestmark = pytest.mark.unit


def test_given_file_wins_over_the_configured_location(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, training_data="/data/configured.csv", demo_data=False)
    assert data_location(settings, "/data/given.csv", "default", None) == (
        "/data/given.csv",
        "default",
        None,
    )


def test_configured_location_with_its_target_and_schema(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        training_data="/data/applications.parquet",
        training_target="default",
        training_schema="/data/schema.yaml",
        demo_data=False,
    )
    assert data_location(settings) == ("/data/applications.parquet", "default", "/data/schema.yaml")


def test_demo_data_only_when_allowed(tmp_path: Path) -> None:
    assert data_location(Settings(home=tmp_path)) == (None, None, None)  # laptop default
    with pytest.raises(ValueError, match="CREDIT_SCORING_TRAINING_DATA"):
        data_location(Settings(home=tmp_path, demo_data=False))


def test_train_refuses_before_touching_mlflow(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, demo_data=False)
    with pytest.raises(ValueError, match="demo data is disabled"):
        train(settings=settings)
    assert not (tmp_path / "mlflow.db").exists()  # nothing half-done


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CREDIT_SCORING_TRAINING_DATA", "/data/x.csv")
    monkeypatch.setenv("CREDIT_SCORING_DEMO_DATA", "false")
    settings = Settings(home=tmp_path)
    assert settings.training_data == "/data/x.csv"
    assert settings.demo_data is False
