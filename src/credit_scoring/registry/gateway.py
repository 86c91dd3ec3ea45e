"""The one door to the MLflow registry and to run artifacts.

Training, the validation gate, promotion, drift monitoring and the scoring API's model source
reach MLflow through :class:`RegistryGateway`:

* **Artifact names** of a training run are the constants below: the pipeline writes them, the
  gate and drift monitoring read them; nobody spells the paths again.
* **Lookups** (version by alias, latest version, versions by tag) and **downloads** (a version's
  model directory, a run artifact) go through an ``MlflowClient`` built with explicit
  ``tracking_uri``/``registry_uri``; no method reads or changes MLflow's process-wide URIs, so
  the API can resolve and download at reload time without touching global state.
* **Search filters** are built by :func:`filter_value`, which quotes a value the way MLflow's
  filter parser accepts it (a key with a quote in it cannot break or widen the search).

HTTP retry policy (MLflow reads it from environment variables only, per process; there is no
per-client setting): :data:`HTTP_POLICIES` holds the one decision, applied once at process start
by :func:`apply_http_policy` -- ``batch`` (CLI commands, Airflow tasks: 3 retries, operator's env
wins) when MLflow is configured for a command, ``serving`` (the scoring API: no retries, 10 s
timeout, because the poll loop retries anyway and a slow failing call would delay reloads and
outage detection) when the API's model manager is built. Nothing is changed at request or
reload time.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # importing mlflow costs seconds: the API builds a gateway lazily
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from credit_scoring.config import Settings

# --- artifacts of a training run (written by training.pipeline, read by the gate and drift) ----
MODEL_ARTIFACT = "model"  # the logged pyfunc model (``name=`` of ``log_model``)
FEATURE_SCHEMA_FILE = "feature_schema.json"
SCALING_FILE = "scaling.json"
MASTER_SCALE_FILE = "master_scale.json"  # rating grades (also inside the model's metadata)
HOLDOUT_DIR = "holdout"
HOLDOUT_FILE = "holdout.parquet"
HOLDOUT = f"{HOLDOUT_DIR}/{HOLDOUT_FILE}"
REFERENCE_DIR = "reference"
REFERENCE_FILE = "reference.parquet"
REFERENCE = f"{REFERENCE_DIR}/{REFERENCE_FILE}"
#: The reference's ``score`` column alone (numpy ``.npy``): what the scoring API's live score PSI
#: reads, since the serving image has no Parquet reader (no pyarrow).
REFERENCE_SCORES_FILE = "scores.npy"
REFERENCE_SCORES = f"{REFERENCE_DIR}/{REFERENCE_SCORES_FILE}"
PLOTS_DIR = "plots"
SCORECARD_DIR = "scorecard"
SCORECARD_TABLE_FILE = "scorecard_table.csv"
VALIDATION_DIR = "validation"  # gate report and model card
DRIFT_DIR = "drift"  # artifacts of a monitoring run
BACKTEST_DIR = "backtest"  # artifacts of a backtest run
COMPARE_DIR = "compare"  # challenger report from shadow traffic (on the challenger's run)

# --- tags ---------------------------------------------------------------------------------------
IDEMPOTENCY_TAG = "idempotency_key"
VALIDATION_STATUS_TAG = "validation_status"

HttpPolicy = Literal["batch", "serving"]
HTTP_POLICIES: dict[HttpPolicy, dict[str, str]] = {
    "batch": {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3"},
    "serving": {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    },
}


def apply_http_policy(policy: HttpPolicy, environ: dict[str, str] | None = None) -> None:
    """Set MLflow's HTTP environment for this process (call once, at process start).

    ``batch`` only fills in unset variables (the operator's environment wins). ``serving`` sets
    retries and timeout outright: a scoring API that waits minutes on a dead registry is a bug,
    whatever the environment says; the progress bar is only defaulted off.
    """
    env = os.environ if environ is None else environ
    for key, value in HTTP_POLICIES[policy].items():
        if policy == "serving" and key != "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR":
            env[key] = value
        else:
            env.setdefault(key, value)


def use_registry_credentials(settings: Settings, environ: dict[str, str] | None = None) -> None:
    """Hand the configured registry identity to MLflow's client (process start, like the HTTP
    policy: MLflow's REST client reads ``MLFLOW_TRACKING_USERNAME``/``_PASSWORD`` from the
    environment only).

    Set from ``CREDIT_SCORING_REGISTRY_USERNAME`` and the password (or its ``_FILE``, a mounted
    secret) unless already given; see ``registry.access`` for the identities.
    """
    env = os.environ if environ is None else environ
    if settings.registry_username and settings.registry_password is not None:
        env.setdefault("MLFLOW_TRACKING_USERNAME", settings.registry_username)
        env.setdefault("MLFLOW_TRACKING_PASSWORD", settings.registry_password.get_secret_value())


def filter_value(value: str) -> str:
    """``value`` as a quoted literal of an MLflow search filter.

    MLflow's parser has no escape sequence: a value is single- or double-quoted and may not
    contain its own quote. Single quotes are used unless the value holds one; a value holding
    both kinds cannot be written and raises ``ValueError`` (``versions_with_tag`` then filters
    the model's versions itself).
    """
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError(
        f"value {value!r} holds both quote kinds and cannot be written in an MLflow search filter"
    )


def model_version_uri(name: str, version: int | str) -> str:
    """``models:/<name>/<version>``."""
    return f"models:/{name}/{version}"


class RegistryGateway:
    """Registry lookups, downloads and searches for one registered model, on explicit URIs."""

    def __init__(self, tracking_uri: str, model_name: str, registry_uri: str | None = None):
        from mlflow import MlflowClient  # deferred: importing mlflow costs seconds

        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.model_name = model_name
        self.client: MlflowClient = MlflowClient(
            tracking_uri=self.tracking_uri, registry_uri=self.registry_uri
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistryGateway:
        """The gateway of the configured server (or embedded store) and registered model, with the
        configured registry identity (:func:`use_registry_credentials`)."""
        use_registry_credentials(settings)
        return cls(settings.resolved_tracking_uri, settings.model_name)

    # --- lookups ---------------------------------------------------------------------------------
    def version(self, version: int | str) -> ModelVersion:
        """One version (raises ``MlflowException`` when it does not exist)."""
        return self.client.get_model_version(self.model_name, str(version))

    def version_by_alias(self, alias: str) -> ModelVersion:
        """The version holding ``alias`` (raises ``MlflowException`` when none does)."""
        return self.client.get_model_version_by_alias(self.model_name, alias)

    def alias_version(self, alias: str) -> int | None:
        """The version number holding ``alias``, or None."""
        from mlflow.exceptions import MlflowException

        try:
            return int(self.version_by_alias(alias).version)
        except MlflowException:
            return None

    def versions(self) -> list[ModelVersion]:
        """All versions of the model (any order)."""
        return list(self.client.search_model_versions(f"name = {filter_value(self.model_name)}"))

    def latest_version(self) -> int | None:
        """The highest version number, or None when the model has no version."""
        return max((int(v.version) for v in self.versions()), default=None)

    def versions_with_tag(self, key: str, value: str) -> list[ModelVersion]:
        """Versions whose tag ``key`` equals ``value`` exactly (any characters in ``value``)."""
        try:
            query = (
                f"name = {filter_value(self.model_name)} and tags.`{key}` = {filter_value(value)}"
            )
        except ValueError:  # both quote kinds: not expressible, compare here instead
            return [v for v in self.versions() if v.tags.get(key) == value]
        return list(self.client.search_model_versions(query))

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """Logged metrics (latest value each) of a run."""
        return dict(self.client.get_run(run_id).data.metrics)

    # --- downloads -------------------------------------------------------------------------------
    def download_model(self, version: int | str, dst: Path) -> Path:
        """Download the model directory of ``version`` under ``dst``; return that directory.

        The version's storage location is resolved through this gateway's client and downloaded
        with explicit URIs (``models:/`` URIs would resolve through the process-wide ones).
        """
        import mlflow.artifacts

        uri = self.client.get_model_version_download_uri(self.model_name, str(version))
        dst.mkdir(parents=True, exist_ok=True)
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=uri,
            dst_path=str(dst),
            tracking_uri=self.tracking_uri,
            registry_uri=self.registry_uri,
        )
        return Path(local)

    def download_artifact(self, run_id: str, path: str, dst: Path) -> Path:
        """Download the artifact ``path`` (file or directory) of a run under ``dst``."""
        dst.mkdir(parents=True, exist_ok=True)
        return Path(self.client.download_artifacts(run_id, path, str(dst)))

    def download_artifacts(self, run_id: str, paths: Iterable[str], dst: Path) -> dict[str, Path]:
        """:meth:`download_artifact` for several paths; returns path -> local file."""
        return {p: self.download_artifact(run_id, p, dst) for p in paths}

    # --- writes ----------------------------------------------------------------------------------
    def set_version_tags(self, version: int | str, tags: Mapping[str, str]) -> None:
        """Set tags on one version."""
        for key, value in tags.items():
            self.client.set_model_version_tag(self.model_name, str(version), key, value)

    def set_alias(self, alias: str, version: int | str) -> None:
        """Point ``alias`` at ``version``."""
        self.client.set_registered_model_alias(self.model_name, alias, str(version))
