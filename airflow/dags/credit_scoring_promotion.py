"""Airflow DAG ``credit_scoring_promotion``: move a validated version to ``production``.

Manual trigger only. Params: ``version`` (default: the version holding ``staging``), ``reason``,
``actor`` (recorded in the version's ``promoted_by`` tag), ``model_name``, and optionally
``restart_deployment`` (+ ``namespace``, default ``CREDIT_SCORING_K8S_NAMESPACE``): restart the
API Deployment the way ``kubectl rollout restart`` does, with the Kubernetes python client
(``kube_rollout``: patch ``restartedAt``, wait for the rollout), under the chart's
``rolloutRestart`` Role (get/patch of that one Deployment). The scoring API reloads the alias by
itself (polling or registry webhook), so leave it empty unless pods must restart.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

DAG_ID = "credit_scoring_promotion"


@dag(
    dag_id=DAG_ID,
    description="Promote a credit-scoring model version (default: staging) to production.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["credit-scoring", "promotion"],
    default_args={"retries": 0},
    params={
        "version": Param(
            None, type=["null", "integer"], minimum=1, description="Default: staging."
        ),
        "reason": Param("promoted by Airflow", type="string", minLength=1),
        "actor": Param("airflow", type="string", minLength=1, description="Who promotes."),
        "model_name": Param(None, type=["null", "string"], description="Registered model name."),
        "restart_deployment": Param(
            None, type=["null", "string"], description="Kubernetes deployment to restart."
        ),
        "namespace": Param(
            os.environ.get("CREDIT_SCORING_K8S_NAMESPACE", ""),
            type="string",
            description="Namespace of the API release (default CREDIT_SCORING_K8S_NAMESPACE).",
        ),
    },
    doc_md=__doc__,
)
def credit_scoring_promotion() -> None:
    """Promotion DAG (see the module docstring)."""

    @task
    def promote_to_production() -> int:
        """Promote the version (or staging) to production; the package checks the gate status."""
        from airflow.sdk.exceptions import AirflowFailException

        from credit_scoring.config import Settings
        from credit_scoring.registry.promotion import promote

        params = get_current_context()["params"]
        settings = Settings(model_name=params["model_name"]) if params["model_name"] else Settings()
        try:
            version = promote(
                params["version"], reason=params["reason"], actor=params["actor"], settings=settings
            )
        except (ValueError, LookupError) as exc:
            raise AirflowFailException(f"promotion refused: {exc}") from exc
        print(f"{settings.model_name} version {version} is now production")
        return int(version)

    @task
    def rollout_restart(version: int) -> str:
        """Restart a Kubernetes deployment that does not live-reload (skipped when not asked)."""
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        params: dict[str, Any] = get_current_context()["params"]
        deployment = params["restart_deployment"]
        if not deployment:
            raise AirflowSkipException("no restart_deployment given: the API live-reloads")
        if not params["namespace"]:
            raise AirflowFailException(
                "restart_deployment is set but no namespace (param or CREDIT_SCORING_K8S_NAMESPACE)"
            )
        from kube_rollout import rollout_restart as restart

        try:
            restart(deployment, params["namespace"], timeout_s=300)
        except Exception as exc:  # API errors (RBAC, not found) and the rollout timeout
            raise AirflowFailException(f"rollout restart of {deployment} failed: {exc}") from exc
        return f"restarted {deployment} for version {version}"

    rollout_restart(promote_to_production())


credit_scoring_promotion()
