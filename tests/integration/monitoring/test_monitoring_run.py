"""A monitoring run's MLflow side on a real trained model: the reference comes from the registry
(through the gateway), and the report lands in the monitoring experiment with its page and plots."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from credit_scoring.config import Settings
from credit_scoring.monitoring.run import load_reference, log_report
from credit_scoring.monitoring.statistics import DriftThresholds, compute_drift
from credit_scoring.registry.gateway import RegistryGateway
from credit_scoring.training.pipeline import train

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_reference_from_the_registry_and_report_logged(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="no version with alias 'production'"):
        load_reference(settings)
    result = train(settings=settings)
    registry = RegistryGateway.from_settings(settings)
    registry.set_alias("production", result.version)

    reference, schema, version, run_id = load_reference(settings)
    assert (version, run_id) == (str(result.version), result.run_id)
    assert {"probability", "score", "decision", *schema.feature_names} <= set(reference.columns)

    window = reference.sample(300, random_state=0)
    report = compute_drift(
        reference,
        window,
        schema,
        DriftThresholds.from_settings(settings),
        window_start=datetime(2026, 1, 1, tzinfo=UTC),
        window_end=datetime(2026, 1, 2, tzinfo=UTC),
        model_name=settings.model_name,
    )
    assert report.status in {"ok", "warning"} and not report.drift_detected
    mlflow_run = log_report(report, settings)
    assert report.mlflow_run_id == mlflow_run

    client = registry.client
    run = client.get_run(mlflow_run)
    assert run.data.tags["drift_status"] == report.status
    assert run.data.metrics["score_psi"] == pytest.approx(report.score_psi)
    paths = {a.path for a in client.list_artifacts(mlflow_run, "drift")}
    assert {"drift/report.json", "drift/report.html", "drift/plots"} <= paths
    logged = json.loads(
        Path(client.download_artifacts(mlflow_run, "drift/report.json", str(tmp_path))).read_text()
    )
    assert logged["n_current"] == 300 and logged["score_psi"] == report.score_psi
