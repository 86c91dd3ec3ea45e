"""Every DAG of ``airflow/dags`` imports without errors and has the documented shape."""

from __future__ import annotations

from typing import Any

import pytest

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
        "promote_to_production",
        "rollout_restart",
    ]


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
