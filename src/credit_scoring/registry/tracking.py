"""MLflow connection: tracking/registry URI (embedded SQLite store by default) and experiment."""

from __future__ import annotations

import logging

import mlflow
from mlflow import MlflowClient

from credit_scoring.config import Settings
from credit_scoring.registry.gateway import apply_http_policy, use_registry_credentials

log = logging.getLogger(__name__)


def configure_mlflow(settings: Settings) -> str:
    """Point MLflow at the configured server or the embedded store; return the experiment id.

    For commands and batch tasks (training logs through MLflow's fluent API, which uses the
    process-wide URIs); the scoring API never calls it (see ``registry.gateway``). The embedded
    store is ``<home>/mlflow.db`` (SQLite) with artifacts in ``<home>/artifacts``.
    """
    if settings.embedded:
        settings.home.mkdir(parents=True, exist_ok=True)
        # Quieter first-time migrations of the SQLite store.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    use_registry_credentials(settings)
    uri = settings.resolved_tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    apply_http_policy("batch")
    mc = client(settings)
    exp = mc.get_experiment_by_name(settings.experiment_name)
    if exp is not None:
        return str(exp.experiment_id)
    return str(
        mc.create_experiment(settings.experiment_name, artifact_location=settings.artifact_location)
    )


def client(settings: Settings) -> MlflowClient:
    """An MlflowClient bound to the configured tracking and registry URI."""
    use_registry_credentials(settings)
    uri = settings.resolved_tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)
