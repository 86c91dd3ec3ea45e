"""Airflow DAG ``credit_scoring_training``: validate -> train/evaluate/register -> gate -> staging.

Every task is a thin call into the ``credit_scoring`` package (installed in the Airflow
environment). ``train()`` trains, evaluates, logs every artifact and registers the version as its
very last step, so a version without an alias exists only when the whole run succeeded. It is
called with the idempotency key ``airflow-<dag_id>-<run_id>``: a retried or cleared task finds the
version it already registered instead of registering a duplicate. The validation gate sets the
``staging`` alias on success; on failure the task fails (no retries) with the failed checks.

Params (trigger with config): ``data_path`` (CSV/Parquet; default: bundled German Credit),
``target``, ``schema_path``, ``model_name``, ``reason`` (free text, e.g. set by the monitoring DAG).
MLflow and all other settings come from the environment (``MLFLOW_TRACKING_URI``,
``CREDIT_SCORING_*``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

DAG_ID = "credit_scoring_training"


def _settings(params: dict[str, Any]) -> Any:
    from credit_scoring.config import Settings

    # Built per task (not cached) so that the worker's current environment applies.
    return Settings(model_name=params["model_name"]) if params.get("model_name") else Settings()


@dag(
    dag_id=DAG_ID,
    description="Train and register a credit-scoring model, gate it, alias it staging.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["credit-scoring", "training"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "data_path": Param(None, type=["null", "string"], description="CSV/Parquet training file."),
        "target": Param(None, type=["null", "string"], description="Target column (file data)."),
        "schema_path": Param(None, type=["null", "string"], description="Feature schema file."),
        "model_name": Param(None, type=["null", "string"], description="Registered model name."),
        "reason": Param("manual", type="string", description="Why this run was started."),
    },
    doc_md=__doc__,
)
def credit_scoring_training() -> None:
    """Training DAG (see the module docstring)."""

    @task(retries=0)
    def validate_data() -> dict[str, Any]:
        """Validate the training data against its schema; bad data fails at once (no retry)."""
        from airflow.sdk.exceptions import AirflowFailException

        from credit_scoring.data.validation import DataValidationError, validate_training_frame
        from credit_scoring.training.pipeline import load_dataset

        params = get_current_context()["params"]
        try:
            ds = load_dataset(params["data_path"], params["target"], params["schema_path"])
            data = validate_training_frame(ds.frame, ds.schema, source=ds.source)
        except (DataValidationError, ValueError, OSError) as exc:
            raise AirflowFailException(f"training data rejected: {exc}") from exc
        print(f"validated {len(data.features)} rows from {ds.source} (reason: {params['reason']})")
        return {"rows": len(data.features), "source": ds.source}

    @task
    def train_and_register(validated: dict[str, Any]) -> dict[str, Any]:
        """Train, evaluate and register a version (no alias); idempotent per DAG run."""
        from credit_scoring.training.pipeline import train

        ctx = get_current_context()
        params = ctx["params"]
        key = f"airflow-{DAG_ID}-{ctx['run_id']}"
        result = train(
            data_path=params["data_path"],
            target=params["target"],
            schema_path=params["schema_path"],
            settings=_settings(params),
            idempotency_key=key,
        )
        print(
            f"version {result.version} (run {result.run_id}) from {validated['rows']} rows, "
            f"{'reused' if getattr(result, 'reused', False) else 'new'}; metrics {result.metrics}"
        )
        return {"version": result.version, "run_id": result.run_id, "metrics": result.metrics}

    @task(retries=0)
    def validation_gate(trained: dict[str, Any]) -> dict[str, Any]:
        """Run the validation gate; it sets alias staging on pass, the task fails on a fail."""
        from airflow.sdk.exceptions import AirflowFailException

        from credit_scoring.validation.gate import validate_version

        params = get_current_context()["params"]
        report = validate_version(int(trained["version"]), settings=_settings(params))
        if not report.passed:
            raise AirflowFailException(
                f"version {trained['version']} failed the validation gate: "
                + "; ".join(report.failed_checks)
            )
        return {"version": int(trained["version"]), "passed": True}

    @task
    def confirm_staging(gate: dict[str, Any]) -> int:
        """Check that alias staging now points at the new version."""
        from airflow.sdk.exceptions import AirflowFailException

        from credit_scoring.registry.gateway import RegistryGateway

        settings = _settings(get_current_context()["params"])
        mv = RegistryGateway.from_settings(settings).version_by_alias("staging")
        if int(mv.version) != gate["version"]:
            raise AirflowFailException(
                f"alias staging points at version {mv.version}, expected {gate['version']}"
            )
        print(f"{settings.model_name} version {mv.version} is staging")
        return int(mv.version)

    confirm_staging(validation_gate(train_and_register(validate_data())))


credit_scoring_training()
