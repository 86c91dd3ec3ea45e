"""Airflow DAG ``credit_scoring_training``: validate -> train/evaluate/register -> gate -> staging.

Every task is a thin call into the ``credit_scoring`` package (installed in the Airflow
environment). ``train()`` trains, evaluates, logs every artifact and registers the version as its
very last step, so a version without an alias exists only when the whole run succeeded. It is
called with the idempotency key ``airflow-<dag_id>-<run_id>``: a retried or cleared task finds the
version it already registered instead of registering a duplicate. The validation gate sets the
``staging`` alias on success; on failure the task fails (no retries) with the failed checks.

Params (trigger with config): ``data_path`` (CSV/Parquet; default: ``CREDIT_SCORING_TRAINING_DATA``,
and the bundled German Credit demo data only where ``CREDIT_SCORING_DEMO_DATA`` is not false),
``target``, ``schema_path``, ``model_name``, ``reason`` (free text, e.g. set by the monitoring DAG).
MLflow and all other settings come from the environment (``MLFLOW_TRACKING_URI``,
``CREDIT_SCORING_*``).

Kubernetes: with ``CREDIT_SCORING_K8S_TRAINER_IMAGE`` set (the full-stack ``credit-scoring-api``
image) the three heavy tasks run as ``KubernetesPodOperator`` pods in that image instead of in the
Airflow worker: in ``CREDIT_SCORING_K8S_NAMESPACE`` (the platform release's namespace), with the
ServiceAccount ``CREDIT_SCORING_K8S_SERVICE_ACCOUNT`` and the labels of the chart's trainer pods
(so its NetworkPolicy lets them reach MLflow and nothing else), the data volume
``CREDIT_SCORING_K8S_DATA_CLAIM`` mounted read-only at ``/data``, and the worker's
``MLFLOW_TRACKING_URI`` / ``CREDIT_SCORING_*`` settings. With registry access control, the
registry's writer identity: ``CREDIT_SCORING_K8S_REGISTRY_SECRET`` names a Secret of that
namespace (the platform release's ``credit-scoring-secrets``) whose key
``CREDIT_SCORING_K8S_REGISTRY_PASSWORD_KEY`` (default ``mlflow-writer-password``) is mounted as a
file for ``CREDIT_SCORING_REGISTRY_USERNAME`` (``CREDIT_SCORING_K8S_REGISTRY_USERNAME``, default
``credit-scoring-writer``); the password never passes through Airflow.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

DAG_ID = "credit_scoring_training"
K8S_IMAGE = os.environ.get("CREDIT_SCORING_K8S_TRAINER_IMAGE", "")
# Settings the trainer pods inherit from the worker (never secrets: those come from the pod's
# ServiceAccount / mounted files).
_INHERITED = ("MLFLOW_TRACKING_URI", "CREDIT_SCORING_MODEL_NAME", "CREDIT_SCORING_EXPERIMENT_NAME")


def _pod_env() -> dict[str, str]:
    """Env of a trainer pod: the worker's MLflow settings and the run's data location."""
    env = {key: os.environ[key] for key in _INHERITED if key in os.environ}
    env["CREDIT_SCORING_DEMO_DATA"] = os.environ.get("CREDIT_SCORING_DEMO_DATA", "false")
    env["CREDIT_SCORING_HOME"] = "/tmp/credit-scoring"  # noqa: S108 - the pod's scratch volume
    env["MPLCONFIGDIR"] = "/tmp/matplotlib"  # noqa: S108
    for param, setting in (
        ("data_path", "CREDIT_SCORING_TRAINING_DATA"),
        ("target", "CREDIT_SCORING_TRAINING_TARGET"),
        ("schema_path", "CREDIT_SCORING_TRAINING_SCHEMA"),
    ):
        default = json.dumps(os.environ.get(setting, ""))
        env[setting] = "{{ params.%s or %s }}" % (param, default)  # noqa: UP031 - Jinja
    model = json.dumps(os.environ.get("CREDIT_SCORING_MODEL_NAME", "credit-scoring"))
    env["CREDIT_SCORING_MODEL_NAME"] = "{{ params.model_name or %s }}" % model  # noqa: UP031
    registry_secret = os.environ.get("CREDIT_SCORING_K8S_REGISTRY_SECRET", "")
    if registry_secret:
        env["CREDIT_SCORING_REGISTRY_USERNAME"] = os.environ.get(
            "CREDIT_SCORING_K8S_REGISTRY_USERNAME", "credit-scoring-writer"
        )
        env["CREDIT_SCORING_REGISTRY_PASSWORD_FILE"] = f"{_REGISTRY_DIR}/password"
    return env


_REGISTRY_DIR = "/etc/credit-scoring/registry"


def _trainer_pod(task_id: str, script: str, **kwargs: Any) -> Any:
    """A KubernetesPodOperator running ``script`` (sh) in the trainer image."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from kubernetes.client import models as k8s

    claim = os.environ.get("CREDIT_SCORING_K8S_DATA_CLAIM", "")
    volumes = [k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="4Gi"))]
    mounts = [k8s.V1VolumeMount(name="tmp", mount_path="/tmp")]  # noqa: S108
    if claim:
        volumes.append(
            k8s.V1Volume(
                name="data",
                persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                    claim_name=claim, read_only=True
                ),
            )
        )
        mounts.append(k8s.V1VolumeMount(name="data", mount_path="/data", read_only=True))
    registry_secret = os.environ.get("CREDIT_SCORING_K8S_REGISTRY_SECRET", "")
    if registry_secret:
        key = os.environ.get("CREDIT_SCORING_K8S_REGISTRY_PASSWORD_KEY", "mlflow-writer-password")
        volumes.append(
            k8s.V1Volume(
                name="registry-identity",
                secret=k8s.V1SecretVolumeSource(
                    secret_name=registry_secret,
                    default_mode=0o440,
                    items=[k8s.V1KeyToPath(key=key, path="password")],
                ),
            )
        )
        mounts.append(
            k8s.V1VolumeMount(name="registry-identity", mount_path=_REGISTRY_DIR, read_only=True)
        )
    return KubernetesPodOperator(
        task_id=task_id,
        name=f"credit-scoring-{task_id.replace('_', '-')}",
        namespace=os.environ.get("CREDIT_SCORING_K8S_NAMESPACE") or None,
        image=K8S_IMAGE,
        service_account_name=os.environ.get("CREDIT_SCORING_K8S_SERVICE_ACCOUNT") or None,
        labels={
            "app.kubernetes.io/name": "credit-scoring",
            "app.kubernetes.io/instance": os.environ.get(
                "CREDIT_SCORING_K8S_RELEASE", "credit-scoring-platform"
            ),
            "app.kubernetes.io/component": "trainer",
        },
        cmds=["sh", "-ec"],
        arguments=[script],
        env_vars=_pod_env(),
        volumes=volumes,
        volume_mounts=mounts,
        security_context=k8s.V1PodSecurityContext(
            run_as_non_root=True, run_as_user=10001, run_as_group=10001, fs_group=10001
        ),
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "1", "memory": "2Gi"}, limits={"cpu": "2", "memory": "4Gi"}
        ),
        get_logs=True,
        on_finish_action="delete_pod",
        **kwargs,
    )


# Scripts of the trainer pods (the same steps as the Python tasks below).
_VALIDATE_DATA = "python -c '%s'" % "; ".join(  # noqa: UP031 - a shell-quoted script
    [
        "from credit_scoring.config import Settings",
        "from credit_scoring.data.validation import validate_training_frame",
        "from credit_scoring.training.pipeline import data_location, load_dataset",
        "ds = load_dataset(*data_location(Settings()))",
        "data = validate_training_frame(ds.frame, ds.schema, source=ds.source)",
        'print(f"validated {len(data.features)} rows from {ds.source}")',
    ]
)
_TRAIN = (
    "mkdir -p /airflow/xcom && credit-scoring train --json "
    '--idempotency-key "airflow-' + DAG_ID + '-{{ run_id }}" > /airflow/xcom/return.json'
)
_VERSION = "{{ ti.xcom_pull(task_ids='train_and_register')['version'] }}"
_GATE = f'credit-scoring validate --version "{_VERSION}"'


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
        from credit_scoring.training.pipeline import data_location, load_dataset

        params = get_current_context()["params"]
        try:
            location = data_location(
                _settings(params), params["data_path"], params["target"], params["schema_path"]
            )
            ds = load_dataset(*location)
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
        if int(mv.version) != int(gate["version"]):
            raise AirflowFailException(
                f"alias staging points at version {mv.version}, expected {gate['version']}"
            )
        print(f"{settings.model_name} version {mv.version} is staging")
        return int(mv.version)

    if K8S_IMAGE:
        validated = _trainer_pod("validate_data", _VALIDATE_DATA, retries=0)
        trained = _trainer_pod("train_and_register", _TRAIN, do_xcom_push=True)
        gate = _trainer_pod("validation_gate", _GATE, retries=0)
        validated >> trained >> gate
        gate >> confirm_staging({"version": _VERSION})
    else:
        confirm_staging(validation_gate(train_and_register(validate_data())))


credit_scoring_training()
