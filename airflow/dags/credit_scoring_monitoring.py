"""Airflow DAG ``credit_scoring_monitoring``: drift of live predictions; retrain when it drifted.

Daily (and on manual trigger). ``check_drift`` calls
:func:`credit_scoring.monitoring.run.run_monitoring` on the prediction-log window that ends at
the run's data interval end (or ``window_end``) and lasts ``window_hours`` (default:
``CREDIT_SCORING_MONITOR_WINDOW_HOURS``), against the training reference of the ``production``
version; the drift report (JSON + HTML with plots) is logged to MLflow experiment
``<experiment>-monitoring``. When drift is detected ``trigger_training`` starts
``credit_scoring_training`` (the reasons go into its ``reason`` param); otherwise, and for windows
too small to judge, the run ends in ``no_retraining``.

Params: ``window_start`` / ``window_end`` (ISO timestamps, override the data interval),
``window_hours``, ``source`` (``auto`` | ``postgres`` | ``files``), ``model_name``, ``retrain``
(false: report only).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, get_current_context, task

DAG_ID = "credit_scoring_monitoring"
TRAINING_DAG_ID = "credit_scoring_training"


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dag(
    dag_id=DAG_ID,
    description="Drift of the prediction log against the production model's training reference.",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["credit-scoring", "monitoring"],
    # Native rendering keeps a null model_name null in the training run's conf.
    render_template_as_native_obj=True,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    params={
        "window_start": Param(None, type=["null", "string"], description="ISO start (UTC)."),
        "window_end": Param(None, type=["null", "string"], description="ISO end (UTC)."),
        "window_hours": Param(None, type=["null", "number"], exclusiveMinimum=0),
        "source": Param("auto", enum=["auto", "postgres", "files"]),
        "model_name": Param(None, type=["null", "string"], description="Registered model name."),
        "retrain": Param(True, type="boolean", description="Trigger training on drift."),
    },
    doc_md=__doc__,
)
def credit_scoring_monitoring() -> None:
    """Monitoring DAG (see the module docstring)."""

    @task
    def check_drift() -> dict[str, Any]:
        """Compute and log the drift report of the window; return its headline."""
        from credit_scoring.config import Settings
        from credit_scoring.monitoring.run import run_monitoring

        ctx = get_current_context()
        params = ctx["params"]
        overrides: dict[str, Any] = {}
        if params["model_name"]:
            overrides["model_name"] = params["model_name"]
        if params["window_hours"]:
            overrides["monitor_window_hours"] = params["window_hours"]
        settings = Settings(**overrides)
        end = _parse(params["window_end"]) or ctx.get("data_interval_end") or pendulum.now("UTC")
        start = _parse(params["window_start"]) or end - timedelta(
            hours=settings.monitor_window_hours
        )
        report = run_monitoring(
            settings, window_start=start, window_end=end, source=params["source"]
        )
        print(report.message)
        return {
            "status": report.status,
            "drift_detected": report.drift_detected,
            "message": report.message,
            "n_current": report.n_current,
            "score_psi": report.score_psi,
            "model_version": report.model_version,
            "mlflow_run_id": report.mlflow_run_id,
        }

    @task.branch
    def decide(headline: dict[str, Any]) -> str:
        """Retrain only on detected drift (and when the run allows it)."""
        retrain = get_current_context()["params"]["retrain"]
        return "trigger_training" if headline["drift_detected"] and retrain else "no_retraining"

    @task
    def no_retraining(headline: dict[str, Any]) -> str:
        """End of a run without retraining."""
        return f"no retraining: {headline['status']} ({headline['message']})"

    headline = check_drift()
    trigger = TriggerDagRunOperator(
        task_id="trigger_training",
        trigger_dag_id=TRAINING_DAG_ID,
        conf={
            "model_name": "{{ params.model_name }}",
            "reason": "drift: {{ ti.xcom_pull(task_ids='check_drift')['message'] }}",
        },
        wait_for_completion=False,
    )
    decide(headline) >> [trigger, no_retraining(headline)]


credit_scoring_monitoring()
