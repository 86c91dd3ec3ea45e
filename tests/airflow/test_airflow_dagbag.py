"""Every DAG of ``airflow/dags`` imports without errors and has the documented shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "airflow" / "dags"

pytestmark = pytest.mark.airflow

DAG_IDS = {
    "credit_scoring_training",
    "credit_scoring_promotion",
    "credit_scoring_monitoring",
    "credit_scoring_portfolio",
}


def test_dags_import_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) >= DAG_IDS


def test_training_dag_shape(dagbag: Any) -> None:
    dag = dagbag.get_dag("credit_scoring_training")
    assert dag.schedule is None  # triggered manually or by the monitoring DAG
    order = [t.task_id for t in dag.topological_sort()]
    assert order == ["validate_data", "train_and_register", "validation_gate", "confirm_staging"]
    # Training itself retries (idempotent); data and gate failures are final.
    assert dag.get_task("train_and_register").retries >= 1
    assert dag.get_task("validation_gate").retries == 0
    assert {"data_path", "model_name", "target", "schema_path"} <= set(dag.params.keys())


def test_promotion_dag_is_manual_with_version_param(dagbag: Any) -> None:
    dag = dagbag.get_dag("credit_scoring_promotion")
    assert dag.schedule is None
    assert dag.params["version"] is None
    assert [t.task_id for t in dag.topological_sort()] == [
        "compare_live",
        "promote_to_production",
        "rollout_restart",
    ]
    # A skipped compare (no champion yet, or compare off) does not block the promotion.
    assert dag.get_task("promote_to_production").trigger_rule == "none_failed"
    assert dag.params["compare"] is True and dag.params["challenger_alias"] == "staging"


def test_monitoring_dag_is_scheduled_and_triggers_training(dagbag: Any) -> None:
    dag = dagbag.get_dag("credit_scoring_monitoring")
    assert dag.schedule == "@daily"
    trigger = dag.get_task("trigger_training")
    assert trigger.trigger_dag_id == "credit_scoring_training"
    assert set(dag.get_task("decide").downstream_task_ids) == {"trigger_training", "no_retraining"}


def test_portfolio_dag_is_monthly_with_data_and_engine_params(dagbag: Any) -> None:
    dag = dagbag.get_dag("credit_scoring_portfolio")
    assert dag.schedule == "@monthly"
    assert [t.task_id for t in dag.topological_sort()] == ["score_portfolio"]
    assert {"data", "out", "engine", "master", "alias", "version", "reasons"} <= set(dag.params)
    assert dag.params["engine"] == "local" and dag.params["alias"] == "production"
    assert dag.get_task("score_portfolio").retries >= 1  # idempotent: atomic outputs


def test_training_dag_runs_heavy_tasks_as_trainer_pods(
    airflow_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CREDIT_SCORING_K8S_TRAINER_IMAGE: the heavy tasks become KubernetesPodOperator pods in
    the trainer image, labelled as the chart's trainer pods, with the data volume and the
    registry's writer password (a Secret file) mounted."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    monkeypatch.setenv(
        "CREDIT_SCORING_K8S_TRAINER_IMAGE", "ghcr.io/credit-scoring/credit-scoring-api:prod-v0.1.0"
    )
    monkeypatch.setenv("CREDIT_SCORING_K8S_NAMESPACE", "mlops-platform")
    monkeypatch.setenv("CREDIT_SCORING_K8S_SERVICE_ACCOUNT", "credit-scoring-platform-trainer")
    monkeypatch.setenv("CREDIT_SCORING_K8S_DATA_CLAIM", "credit-scoring-training-data")
    monkeypatch.setenv("CREDIT_SCORING_TRAINING_DATA", "/data/applications.parquet")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    monkeypatch.setenv("CREDIT_SCORING_K8S_REGISTRY_SECRET", "credit-scoring-secrets")
    from airflow.dag_processing.dagbag import DagBag

    # A fresh parse of the file: the DAG reads the settings at parse time.
    bag = DagBag(dag_folder=str(DAGS_FOLDER / "credit_scoring_training.py"))
    assert bag.import_errors == {}
    dag = bag.get_dag("credit_scoring_training")
    order = [t.task_id for t in dag.topological_sort()]
    assert order == ["validate_data", "train_and_register", "validation_gate", "confirm_staging"]
    for task_id in ("validate_data", "train_and_register", "validation_gate"):
        pod = dag.get_task(task_id)
        assert isinstance(pod, KubernetesPodOperator)
        assert pod.image.endswith("credit-scoring-api:prod-v0.1.0")
        assert pod.namespace == "mlops-platform"
        assert pod.service_account_name == "credit-scoring-platform-trainer"
        assert pod.labels["app.kubernetes.io/component"] == "trainer"
        assert pod.labels["app.kubernetes.io/instance"] == "credit-scoring-platform"
        env = (
            dict(pod.env_vars)
            if isinstance(pod.env_vars, dict)
            else {e.name: e.value for e in pod.env_vars}
        )
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.example:5000"
        assert env["CREDIT_SCORING_DEMO_DATA"] == "false"  # never the bundled data silently
        assert "params.data_path" in env["CREDIT_SCORING_TRAINING_DATA"]
        assert '"/data/applications.parquet"' in env["CREDIT_SCORING_TRAINING_DATA"]
        claims = [v.persistent_volume_claim for v in pod.volumes if v.persistent_volume_claim]
        assert [c.claim_name for c in claims] == ["credit-scoring-training-data"]
        # The registry's writer identity: the password as a file of the platform's Secret.
        assert env["CREDIT_SCORING_REGISTRY_USERNAME"] == "credit-scoring-writer"
        identity = next(v.secret for v in pod.volumes if v.name == "registry-identity")
        assert identity.secret_name == "credit-scoring-secrets"
        assert [(i.key, i.path) for i in identity.items] == [("mlflow-writer-password", "password")]
        mount = next(m for m in pod.volume_mounts if m.name == "registry-identity")
        assert env["CREDIT_SCORING_REGISTRY_PASSWORD_FILE"] == f"{mount.mount_path}/password"
        assert mount.read_only
    assert dag.get_task("train_and_register").do_xcom_push is True
    assert "credit-scoring train --json" in dag.get_task("train_and_register").arguments[0]
    assert dag.get_task("validation_gate").retries == 0


def test_promotion_restart_namespace_is_configurable(dagbag: Any) -> None:
    dag = dagbag.get_dag("credit_scoring_promotion")
    # Not `default`: the API release's namespace, from CREDIT_SCORING_K8S_NAMESPACE or the run.
    assert dag.params["namespace"] != "default"
