"""Airflow DAG ``credit_scoring_promotion``: move a validated version to ``production``.

Manual trigger only. Params: ``version`` (default: the version holding ``staging``), ``reason``,
``actor`` (recorded in the version's ``promoted_by`` tag), ``model_name``, and optionally
``restart_deployment`` (+ ``namespace``, default ``CREDIT_SCORING_K8S_NAMESPACE``): restart the
API Deployment the way ``kubectl rollout restart`` does, with the Kubernetes python client
(``kube_rollout``: patch ``restartedAt``, wait for the rollout), under the chart's
``rolloutRestart`` Role (get/patch of that one Deployment). The scoring API reloads the alias by
itself (polling or registry webhook), so leave it empty unless pods must restart.

Before promoting, ``compare_live`` (param ``compare``, default true) runs
:func:`credit_scoring.monitoring.compare.run_compare`: the challenger report from the shadow pairs
of the last ``compare_hours`` (default 168) between ``production`` and ``challenger_alias`` (the
API's ``CREDIT_SCORING_SHADOW_ALIAS``, default ``staging``), logged on the challenger's run and
summarised in its version tags. It is skipped when there is no production version yet, or when
the version to promote is not the one holding ``challenger_alias`` (it had no shadow traffic).
With ``CREDIT_SCORING_GATE_REQUIRE_LIVE_COMPARE`` (off by default) ``promote_to_production``
then refuses a version whose live figures miss the limits (pairs, flip rate, four-fifths rule;
:mod:`credit_scoring.registry.live_evidence`); a failing compare fails the run.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

DAG_ID = "credit_scoring_promotion"


def _settings(params: dict[str, Any]) -> Any:
    from credit_scoring.config import Settings

    return Settings(model_name=params["model_name"]) if params["model_name"] else Settings()


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
        "compare": Param(True, type="boolean", description="Compare on shadow pairs first."),
        "compare_hours": Param(
            168, type="number", exclusiveMinimum=0, description="Shadow pairs of the last N hours."
        ),
        "challenger_alias": Param(
            "staging", type="string", minLength=1, description="The API's shadow alias."
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
    def compare_live() -> dict[str, Any]:
        """Challenger report from live shadow pairs (skipped without a champion or pairs)."""
        from datetime import UTC, datetime, timedelta

        from airflow.sdk.exceptions import AirflowSkipException

        from credit_scoring.monitoring.compare import run_compare
        from credit_scoring.registry.gateway import RegistryGateway

        params = get_current_context()["params"]
        if not params["compare"]:
            raise AirflowSkipException("compare off for this run")
        settings = _settings(params)
        registry = RegistryGateway.from_settings(settings)
        alias = params["challenger_alias"]
        champion, shadowed = registry.alias_version("production"), registry.alias_version(alias)
        candidate = params["version"] or registry.alias_version("staging")
        if champion is None:
            raise AirflowSkipException("no production version yet: nothing to compare with")
        if candidate != shadowed or shadowed == champion:
            raise AirflowSkipException(
                f"version {candidate} had no shadow traffic ({alias!r} holds {shadowed}, "
                f"production {champion})"
            )
        until = datetime.now(UTC)
        report = run_compare(
            settings,
            champion="production",
            challenger=alias,
            since=until - timedelta(hours=float(params["compare_hours"])),
            until=until,
        )
        print(
            f"compare v{report.champion_version} -> v{report.challenger_version}: "
            f"{report.n_pairs} pairs, flip rate {report.flip_rate}, "
            f"approval delta {report.approval_rate_delta}"
        )
        return {
            "n_pairs": report.n_pairs,
            "flip_rate": report.flip_rate,
            "min_fairness_ratio": report.challenger_min_ratio,
        }

    # Runs after a skipped compare too (no champion, or compare off), never after a failed one.
    @task(trigger_rule="none_failed")
    def promote_to_production() -> int:
        """Promote the version (or staging) to production; the package checks the gate status."""
        from airflow.sdk.exceptions import AirflowFailException

        from credit_scoring.registry.promotion import promote

        params = get_current_context()["params"]
        settings = _settings(params)
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

    promoted = promote_to_production()
    compare_live() >> promoted
    rollout_restart(promoted)


credit_scoring_promotion()
