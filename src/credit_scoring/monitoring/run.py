"""One monitoring run: read a window of the prediction log, compare it with the training
reference of the served version, log the report to MLflow.

Entry point (the ``credit-scoring monitor`` CLI and the Airflow monitoring DAG call it)::

    run_monitoring(settings: Settings | None = None,
                   window_start: datetime | None = None,  # default: end - window hours
                   window_end: datetime | None = None,    # default: now (UTC)
                   source: "auto" | "postgres" | "embedded" = "auto",
                   alias: str = "production",
                   log_to_mlflow: bool = True) -> DriftReport

It reads the window of the prediction log (:mod:`credit_scoring.monitoring.prediction_log`),
loads the reference of the model version holding ``alias`` (run artifacts
``reference/reference.parquet`` and ``feature_schema.json``, through the registry gateway),
computes the statistics of :mod:`credit_scoring.monitoring.statistics` and logs
``drift/report.json``, ``drift/report.html`` and ``drift/plots/*.png`` (rendered by
:mod:`credit_scoring.monitoring.report`) to an MLflow run in experiment
``<experiment_name>-monitoring``.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.monitoring.prediction_log import Source, as_utc, read_prediction_log
from credit_scoring.monitoring.report import DriftReport, render_html, render_plots
from credit_scoring.monitoring.statistics import DriftThresholds, compute_drift
from credit_scoring.registry.gateway import (
    DRIFT_DIR,
    FEATURE_SCHEMA_FILE,
    REFERENCE,
    RegistryGateway,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient


def load_reference(
    settings: Settings, alias: str = "production"
) -> tuple[pd.DataFrame, FeatureSchema, str, str]:
    """Reference sample, feature schema, version and run id of the ``alias`` model version."""
    from mlflow.exceptions import MlflowException

    registry = RegistryGateway.from_settings(settings)
    try:
        mv = registry.version_by_alias(alias)
    except MlflowException as exc:
        raise LookupError(
            f"model {settings.model_name!r} has no version with alias {alias!r}: {exc.message}"
        ) from exc
    with tempfile.TemporaryDirectory() as tmp:
        try:
            ref_path = registry.download_artifact(str(mv.run_id), REFERENCE, Path(tmp))
            schema_path = registry.download_artifact(str(mv.run_id), FEATURE_SCHEMA_FILE, Path(tmp))
        except (MlflowException, OSError) as exc:
            raise LookupError(
                f"run {mv.run_id} of {settings.model_name!r} version {mv.version} has no drift "
                f"reference ({REFERENCE}, {FEATURE_SCHEMA_FILE}): {exc}"
            ) from exc
        reference = pd.read_parquet(ref_path)
        schema = FeatureSchema.load(schema_path)
    return reference, schema, str(mv.version), str(mv.run_id)


def start_monitoring_run(
    settings: Settings, run_name: str, tags: dict[str, str]
) -> tuple[MlflowClient, str]:
    """A new run in experiment ``<experiment_name>-monitoring`` (created if needed): the client
    and the run id (drift, backtest and estimation runs all go there)."""
    client = RegistryGateway.from_settings(settings).client
    name = f"{settings.experiment_name}-monitoring"
    experiment = client.get_experiment_by_name(name)
    exp_id = (
        experiment.experiment_id
        if experiment is not None
        else client.create_experiment(name, artifact_location=_monitoring_artifacts(settings))
    )
    run = client.create_run(exp_id, run_name=run_name, tags=tags)
    return client, str(run.info.run_id)


def log_report(report: DriftReport, settings: Settings) -> str:
    """Log the report (JSON, HTML, plots, headline metrics) to MLflow; returns the run id."""
    client, run_id = start_monitoring_run(
        settings,
        f"drift {report.window_start:%Y-%m-%d %H:%M} - {report.window_end:%Y-%m-%d %H:%M}",
        {
            "model_name": report.model_name,
            "model_version": report.model_version or "",
            "reference_run_id": report.reference_run_id or "",
            "drift_status": report.status,
            "drift_detected": str(report.drift_detected).lower(),
        },
    )
    report.mlflow_run_id = run_id
    metrics: dict[str, float] = {
        "n_current": report.n_current,
        "drift_detected": float(report.drift_detected),
    }
    if report.score_psi is not None:
        metrics["score_psi"] = report.score_psi
    if report.max_feature_psi is not None:
        metrics["max_feature_psi"] = report.max_feature_psi
    for f in report.features:
        metrics[f"psi_{f.name}"[:250]] = f.psi
    if report.decisions is not None:
        metrics["decision_rate_max_change"] = report.decisions.max_abs_change
    ts = int(report.window_end.timestamp() * 1000)
    for key, value in metrics.items():
        client.log_metric(run_id, key, float(value), timestamp=ts)
    plots = render_plots(report)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "plots").mkdir()
        for fname, data in plots.items():
            (out / "plots" / fname).write_bytes(data)
        (out / "report.json").write_text(report.to_json(), encoding="utf-8")
        (out / "report.html").write_text(render_html(report, plots), encoding="utf-8")
        client.log_artifacts(run_id, str(out), DRIFT_DIR)
    client.set_terminated(run_id)
    return run_id


def _monitoring_artifacts(settings: Settings) -> str | None:
    return (settings.home / "artifacts" / "monitoring").as_uri() if settings.embedded else None


def run_monitoring(
    settings: Settings | None = None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    source: Source = "auto",
    alias: str = "production",
    log_to_mlflow: bool = True,
) -> DriftReport:
    """Check one window of the prediction log for drift against the ``alias`` model's reference."""
    settings = settings or Settings()
    end = as_utc(window_end) if window_end else datetime.now(UTC)
    start = (
        as_utc(window_start)
        if window_start
        else end - timedelta(hours=settings.monitor_window_hours)
    )
    reference, schema, version, run_id = load_reference(settings, alias)
    current = read_prediction_log(settings, start, end, source=source)
    report = compute_drift(
        reference,
        current,
        schema,
        DriftThresholds.from_settings(settings),
        window_start=start,
        window_end=end,
        model_name=settings.model_name,
    )
    report.model_version = version
    report.reference_run_id = run_id
    if log_to_mlflow:
        log_report(report, settings)
    return report
