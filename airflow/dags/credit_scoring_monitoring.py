"""Airflow DAG ``credit_scoring_monitoring``: drift of live predictions; retrain when it drifted;
evidence from outcomes and from the shadow challenger.

Daily (and on manual trigger). ``check_drift`` calls
:func:`credit_scoring.monitoring.run.run_monitoring` on the prediction-log window that ends at
the run's data interval end (or ``window_end``) and lasts ``window_hours`` (default:
``CREDIT_SCORING_MONITOR_WINDOW_HOURS``), against the training reference of the ``production``
version; the drift report (JSON + HTML with plots) is logged to MLflow experiment
``<experiment>-monitoring``. When drift is detected ``trigger_training`` starts
``credit_scoring_training`` (the reasons go into its ``reason`` param); otherwise, and for windows
too small to judge, the run ends in ``no_retraining``.

Params: ``window_start`` / ``window_end`` (ISO timestamps, override the data interval),
``window_hours``, ``source`` (``auto`` | ``postgres`` | ``embedded``), ``model_name``, ``retrain``
(false: report only), ``data_path`` / ``target`` / ``schema_path``: the data a drift-triggered
training run retrains on, passed on in its conf (null: the training side's configured location,
``CREDIT_SCORING_TRAINING_DATA``; a deployment never falls back to the bundled demo data).

Evidence (param ``evidence``, default true), beside the drift branch: ``backtest`` runs
:func:`credit_scoring.monitoring.backtest.run_backtest` on the ``production`` version (decisions
of the last two performance windows up to the window end, joined to their recorded outcomes; the
CBPE estimate on the decisions still without outcomes) and logs the report (JSON, HTML,
Prometheus text, metrics) to the monitoring experiment; ``evidence_alert`` then fails (the alert:
a failed task, its message in the log, the metrics in MLflow and ``backtest/metrics.prom``) when
the backtest is red or the estimated AUC fell more than
``CREDIT_SCORING_BACKTEST_MAX_ESTIMATED_AUC_DROP`` below the holdout AUC. ``compare_challenger``
runs :func:`credit_scoring.monitoring.compare.run_compare` (production vs staging on the shadow
pairs of the window) when ``staging`` holds another version than ``production``.
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


def _settings(params: dict[str, Any]) -> Any:
    from credit_scoring.config import Settings

    overrides: dict[str, Any] = {}
    if params["model_name"]:
        overrides["model_name"] = params["model_name"]
    if params["window_hours"]:
        overrides["monitor_window_hours"] = params["window_hours"]
    return Settings(**overrides)


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
        "evidence": Param(
            True, type="boolean", description="Also backtest, estimate and compare (see above)."
        ),
        "window_start": Param(None, type=["null", "string"], description="ISO start (UTC)."),
        "window_end": Param(None, type=["null", "string"], description="ISO end (UTC)."),
        "window_hours": Param(None, type=["null", "number"], exclusiveMinimum=0),
        "source": Param("auto", enum=["auto", "postgres", "embedded"]),
        "model_name": Param(None, type=["null", "string"], description="Registered model name."),
        "retrain": Param(True, type="boolean", description="Trigger training on drift."),
        "data_path": Param(None, type=["null", "string"], description="Retraining data file."),
        "target": Param(None, type=["null", "string"], description="Its target column."),
        "schema_path": Param(None, type=["null", "string"], description="Its feature schema."),
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

    @task
    def backtest() -> dict[str, Any]:
        """PD backtest and performance estimation of the production version (logged to MLflow)."""
        from airflow.sdk.exceptions import AirflowSkipException

        from credit_scoring.monitoring.backtest import run_backtest

        ctx = get_current_context()
        params = ctx["params"]
        if not params["evidence"]:
            raise AirflowSkipException("evidence off for this run")
        settings = _settings(params)
        end = _parse(params["window_end"]) or ctx.get("data_interval_end") or pendulum.now("UTC")
        report = run_backtest(settings, window_end=end, source=params["source"])
        print(f"backtest of version {report.model_version}: {report.status}; {report.alerts}")
        return {
            "status": report.status,
            "alerts": report.alerts,
            "model_version": report.model_version,
            "n_with_outcome": report.n_with_outcome,
            "n_pending": report.n_pending,
            "estimated_auc_drop": report.estimated_auc_drop,
            "mlflow_run_id": report.mlflow_run_id,
        }

    @task(retries=0)
    def evidence_alert(result: dict[str, Any]) -> str:
        """Fail (alert) on a red backtest or a large estimated AUC drop."""
        alarming = [a for a in result["alerts"] if not a.startswith("only ")]
        if alarming:
            raise RuntimeError(
                f"ALERT credit-scoring version {result['model_version']}: "
                + "; ".join(alarming)
                + f" (MLflow run {result['mlflow_run_id']})"
            )
        return f"backtest {result['status']}: no alert"

    @task
    def compare_challenger() -> dict[str, Any]:
        """Challenger report from the shadow pairs of the window (production vs staging)."""
        from airflow.sdk.exceptions import AirflowSkipException

        from credit_scoring.monitoring.compare import run_compare
        from credit_scoring.registry.gateway import RegistryGateway

        ctx = get_current_context()
        params = ctx["params"]
        if not params["evidence"]:
            raise AirflowSkipException("evidence off for this run")
        settings = _settings(params)
        registry = RegistryGateway.from_settings(settings)
        champion, challenger = (registry.alias_version(a) for a in ("production", "staging"))
        if champion is None or challenger is None or champion == challenger:
            raise AirflowSkipException(
                f"no challenger: production {champion}, staging {challenger}"
            )
        end = _parse(params["window_end"]) or ctx.get("data_interval_end") or pendulum.now("UTC")
        start = _parse(params["window_start"]) or end - timedelta(
            hours=settings.monitor_window_hours
        )
        report = run_compare(settings, since=start, until=end, source=params["source"])
        return {
            "n_pairs": report.n_pairs,
            "flip_rate": report.flip_rate,
            "approval_rate_delta": report.approval_rate_delta,
        }

    evidence_alert(backtest())
    compare_challenger()

    headline = check_drift()
    trigger = TriggerDagRunOperator(
        task_id="trigger_training",
        trigger_dag_id=TRAINING_DAG_ID,
        conf={
            "model_name": "{{ params.model_name }}",
            "data_path": "{{ params.data_path }}",
            "target": "{{ params.target }}",
            "schema_path": "{{ params.schema_path }}",
            "reason": "drift: {{ ti.xcom_pull(task_ids='check_drift')['message'] }}",
        },
        wait_for_completion=False,
    )
    decide(headline) >> [trigger, no_retraining(headline)]


credit_scoring_monitoring()
