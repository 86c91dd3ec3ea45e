"""Registry access control in the chart (``mlflow.auth``): MLflow's basic-auth app, the
registry-access hook Job, the writer identity of the trainer pods and the read-only identity of
the API pods, every password a file of ``existingSecret`` (never a value, never an argument).

The environment-variable contract is checked against the application itself: the access Job's
variables against the options of ``credit-scoring registry-access``, the pods' identities against
:class:`credit_scoring.config.Settings` and
:func:`credit_scoring.registry.gateway.use_registry_credentials`.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
from chart_helpers import Manifest, env_values, find, one, pod_spec, render_objects

from credit_scoring.cli.main import registry_access
from credit_scoring.config import Settings
from credit_scoring.registry.gateway import use_registry_credentials

pytestmark = pytest.mark.helm

SECRET = "credit-scoring-secrets"


def _container(obj: Manifest) -> Manifest:
    spec = pod_spec(obj)
    container: Manifest = spec["containers"][0]
    return container


def _cron_spec(objects: list[Manifest]) -> Manifest:
    spec: Manifest = one(objects, "CronJob", "trainer")["spec"]["jobTemplate"]["spec"]["template"][
        "spec"
    ]
    return spec


def _mounted_files(spec: Manifest, container: Manifest) -> dict[str, str]:
    """Path of every file a container sees from ``existingSecret`` -> the Secret key."""
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    files: dict[str, str] = {}
    for mount in container.get("volumeMounts", []):
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        assert secret["secretName"] == SECRET
        assert mount.get("readOnly") is True, mount
        for item in secret["items"]:
            files[f"{mount['mountPath']}/{item['path']}"] = item["key"]
    return files


def _env(container: Manifest) -> dict[str, str]:
    """Literal env values (a ``valueFrom`` would put a secret into the environment: refused)."""
    out = {}
    for var in container.get("env", []):
        assert "valueFrom" not in var or "secretKeyRef" not in var["valueFrom"], var
        if "value" in var:
            out[var["name"]] = var["value"]
    return out


def test_platform_mlflow_runs_the_basic_auth_app_with_secrets_as_files() -> None:
    objects = render_objects("platform")
    mlflow = one(objects, "Deployment", "mlflow")
    container = _container(mlflow)
    args = container["args"]
    assert args[:2] == ["mlflow", "server"]
    i = args.index("--app-name")
    assert args[i + 1] == "basic-auth"
    env = _env(container)
    files = _mounted_files(pod_spec(mlflow), container)
    assert files[env["MLFLOW_AUTH_DATABASE_URI_FILE"]] == "mlflow-auth-database-uri"
    assert files[env["MLFLOW_AUTH_ADMIN_PASSWORD_FILE"]] == "mlflow-admin-password"
    assert files[env["MLFLOW_FLASK_SERVER_SECRET_KEY_FILE"]] == "mlflow-flask-secret-key"
    assert env["MLFLOW_AUTH_ADMIN_USERNAME"] == "admin"
    # The server never sees the writer's or the reader's password.
    assert set(files.values()) == {
        "mlflow-backend-store-uri",
        "mlflow-auth-database-uri",
        "mlflow-admin-password",
        "mlflow-flask-secret-key",
    }
    # The migration hook only migrates the backend store: no auth secret in it.
    migration = one(objects, "Job", "mlflow-migration")
    assert set(_mounted_files(pod_spec(migration), _container(migration)).values()) == {
        "mlflow-backend-store-uri"
    }


def test_access_job_is_an_idempotent_hook_speaking_the_cli_contract() -> None:
    objects = render_objects("platform")
    job = one(objects, "Job", "mlflow-access")
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert hooks == ["post-install", "post-upgrade"]  # every install and upgrade: rotation
    assert "before-hook-creation" in job["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
    spec = pod_spec(job)
    container = _container(job)
    assert container["command"] == ["credit-scoring", "registry-access"]
    assert container["image"].startswith("ghcr.io/credit-scoring/credit-scoring-api:")
    env = _env(container)
    mlflow_service = one(objects, "Service", "mlflow")["metadata"]["name"]
    assert env["MLFLOW_TRACKING_URI"] == f"http://{mlflow_service}:5000"
    # Every variable is an option of the command (typer envvar), so none is silently ignored.
    hints = typing.get_type_hints(registry_access, include_extras=True)
    envvars = {
        meta.envvar
        for hint in hints.values()
        for meta in getattr(hint, "__metadata__", ())
        if getattr(meta, "envvar", None)
    }
    settings_env = {"MLFLOW_TRACKING_URI", "CREDIT_SCORING_MODEL_NAME", "CREDIT_SCORING_HOME"}
    assert set(env) - {"HOME"} <= envvars | settings_env, set(env) - envvars - settings_env
    files = _mounted_files(spec, container)
    assert files[env["MLFLOW_AUTH_ADMIN_PASSWORD_FILE"]] == "mlflow-admin-password"
    assert files[env["CREDIT_SCORING_REGISTRY_WRITER_PASSWORD_FILE"]] == "mlflow-writer-password"
    assert files[env["CREDIT_SCORING_REGISTRY_READER_PASSWORD_FILE"]] == "mlflow-reader-password"
    assert env["CREDIT_SCORING_REGISTRY_WRITER_USERNAME"] == "credit-scoring-writer"
    assert env["CREDIT_SCORING_REGISTRY_READER_USERNAME"] == "credit-scoring-reader"
    # Its own policy: no ingress, egress to DNS and MLflow only.
    policy = next(
        p
        for p in find(objects, "NetworkPolicy")
        if p["metadata"]["labels"]["app.kubernetes.io/component"] == "mlflow-access"
    )
    assert policy["spec"]["ingress"] == []
    ports = sorted(p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"])
    assert ports == [53, 53, 5000]


def _identity_settings(
    config: dict[str, str],
    files: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    passwords: dict[str, str],
) -> dict[str, str]:
    """Settings of a pod built from its ConfigMap with the mounted files materialised under
    ``tmp_path``; returns the MLflow client environment they produce."""
    for path, key in files.items():
        local = tmp_path / path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(passwords.get(key, "unused") + "\n", encoding="utf-8")
    for key, value in config.items():
        if key.startswith(("CREDIT_SCORING_REGISTRY_", "MLFLOW_TRACKING_URI")):
            if value in files:
                value = str(tmp_path / value.lstrip("/"))
            monkeypatch.setenv(key, value)
    environ: dict[str, str] = {}
    use_registry_credentials(Settings(), environ)
    return environ


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_api_pods_use_the_read_only_identity(
    env: str, tmp_path: Path, isolated_env: pytest.MonkeyPatch
) -> None:
    objects = render_objects(env)
    api = one(objects, "Deployment", "api")
    files = _mounted_files(pod_spec(api), _container(api))
    assert "mlflow-reader-password" in files.values()
    assert not {"mlflow-writer-password", "mlflow-admin-password"} & set(files.values())
    config = one(objects, "ConfigMap", "api")["data"]
    environ = _identity_settings(
        config, files, tmp_path, isolated_env, {"mlflow-reader-password": "reader-secret-123"}
    )
    assert environ == {
        "MLFLOW_TRACKING_USERNAME": "credit-scoring-reader",
        "MLFLOW_TRACKING_PASSWORD": "reader-secret-123",
    }


@pytest.mark.parametrize("workload", ["CronJob", "Job"])
def test_trainer_pods_use_the_writer_identity_and_wait_for_it(
    workload: str, tmp_path: Path, isolated_env: pytest.MonkeyPatch
) -> None:
    objects = render_objects("platform")
    if workload == "CronJob":
        spec = _cron_spec(objects)
    else:
        spec = pod_spec(one(objects, "Job", "trainer"))
    container = spec["containers"][0]
    files = _mounted_files(spec, container)
    assert set(files.values()) == {"mlflow-writer-password"}
    script = container["command"][-1]
    # The first step: wait for the grant the access Job gives (then train, validate).
    first = next(line for line in script.splitlines() if line and not line.startswith("#"))
    assert first.startswith("credit-scoring registry-ready --permission MANAGE --timeout ")
    config = one(objects, "ConfigMap", "trainer")["data"]
    environ = _identity_settings(
        config, files, tmp_path, isolated_env, {"mlflow-writer-password": "writer-secret-123"}
    )
    assert environ == {
        "MLFLOW_TRACKING_USERNAME": "credit-scoring-writer",
        "MLFLOW_TRACKING_PASSWORD": "writer-secret-123",
    }


def test_auth_off_renders_an_open_registry_without_identities() -> None:
    """The chart's demo defaults: no basic-auth app, no access Job, no identity anywhere."""
    objects = render_objects("default")
    assert "--app-name" not in _container(one(objects, "Deployment", "mlflow"))["args"]
    assert not [o for o in objects if o["metadata"]["name"].endswith("-access")]
    config = one(objects, "ConfigMap", "api")["data"]
    assert not [k for k in config if k.startswith("CREDIT_SCORING_REGISTRY_")]
    volumes = pod_spec(one(objects, "Deployment", "api"))["volumes"]
    assert "registry-identity" not in {v["name"] for v in volumes}


def test_values_turn_auth_on_everywhere_but_the_demo() -> None:
    for env in ("platform", "staging", "prod"):
        assert env_values(env)["mlflow"]["auth"]["enabled"] is True, env


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"writerUsername": "ci-writer"}, "CREDIT_SCORING_REGISTRY_USERNAME"),
    ],
)
def test_identity_names_and_secret_keys_are_values(override: dict[str, Any], key: str) -> None:
    values = env_values("platform")
    values["mlflow"]["auth"].update(override)
    values["secretKeys"] = {"mlflowWriterPassword": "ci-writer-password"}
    objects = render_objects("platform", values)
    assert one(objects, "ConfigMap", "trainer")["data"][key] == "ci-writer"
    files = _mounted_files(_cron_spec(objects), _cron_spec(objects)["containers"][0])
    assert set(files.values()) == {"ci-writer-password"}
    job = one(objects, "Job", "mlflow-access")
    assert _env(_container(job))["CREDIT_SCORING_REGISTRY_WRITER_USERNAME"] == "ci-writer"


def test_mlflow_service_monitor_signs_in_as_the_reader_when_auth_is_on() -> None:
    values = env_values("platform")
    values["mlflow"]["metrics"]["serviceMonitor"] = {"enabled": True}
    monitor = one(render_objects("platform", values), "ServiceMonitor", "mlflow")
    auth = monitor["spec"]["endpoints"][0]["basicAuth"]
    assert auth == {
        "username": {"name": SECRET, "key": "mlflow-reader-username"},
        "password": {"name": SECRET, "key": "mlflow-reader-password"},
    }
    values["mlflow"]["auth"]["enabled"] = False
    open_monitor = one(render_objects("platform", values), "ServiceMonitor", "mlflow")
    assert "basicAuth" not in open_monitor["spec"]["endpoints"][0]
