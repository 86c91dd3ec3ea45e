"""Registry access control against a real ``mlflow server --app-name basic-auth``.

``credit-scoring registry-access`` creates the writer and the read-only identity; the writer
registers a version and moves ``production``; the API's read-only identity can read the alias
but gets 403 when it tries to move it; no credentials is 401; re-running rotates passwords.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.servers import VENV_BIN, MlflowServer, start_mlflow, stop
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from credit_scoring.config import Settings
from credit_scoring.registry.tracking import client as registry_client

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN_PASSWORD = "admin-test-password-1"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = start_mlflow(
        tmp_path_factory.mktemp("mlflow-auth"), auth_admin_password=ADMIN_PASSWORD
    )
    yield server
    stop(server.proc)


def secrets(tmp_path: Path, writer: str, reader: str) -> dict[str, str]:
    files = {}
    for name, value in (("admin", ADMIN_PASSWORD), ("writer", writer), ("reader", reader)):
        path = tmp_path / f"{name}_password"
        path.write_text(value + "\n")
        path.chmod(0o600)
        files[name] = str(path)
    return {
        "MLFLOW_AUTH_ADMIN_PASSWORD_FILE": files["admin"],
        "CREDIT_SCORING_REGISTRY_WRITER_PASSWORD_FILE": files["writer"],
        "CREDIT_SCORING_REGISTRY_READER_PASSWORD_FILE": files["reader"],
    }


def run_access(server: MlflowServer, tmp_path: Path, env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    proc = subprocess.run(
        [str(VENV_BIN / "credit-scoring"), "registry-access"],
        env={
            **clean,
            **env,
            "MLFLOW_TRACKING_URI": server.url,
            "CREDIT_SCORING_HOME": str(tmp_path / "home"),
            "CREDIT_SCORING_MODEL_NAME": "guarded-model",
            "CREDIT_SCORING_EXPERIMENT_NAME": "guarded-exp",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def as_user(monkeypatch: pytest.MonkeyPatch, user: str | None, password: str | None) -> None:
    for name, value in (("MLFLOW_TRACKING_USERNAME", user), ("MLFLOW_TRACKING_PASSWORD", password)):
        monkeypatch.setenv(name, "x")  # recorded, so teardown restores the original state
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)


def test_reader_cannot_move_an_alias(
    auth_server: MlflowServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = run_access(
        auth_server, tmp_path, secrets(tmp_path, "writer-pass-0001", "reader-pass-0001")
    )
    assert "created user credit-scoring-writer" in out
    assert "credit-scoring-reader: READ on registered_model guarded-model" in out

    # The writer, through the package's own settings (password from a secret file).
    as_user(monkeypatch, None, None)
    pw_file = tmp_path / "writer_password"
    writer_settings = Settings(
        tracking_uri=auth_server.url,
        home=tmp_path / "w",
        model_name="guarded-model",
        registry_username="credit-scoring-writer",
        registry_password_file=str(pw_file),
    )
    writer = registry_client(writer_settings)
    exp = writer.get_experiment_by_name("guarded-exp")
    assert exp is not None
    run = writer.create_run(exp.experiment_id)
    version = writer.create_model_version(
        "guarded-model", f"{run.info.artifact_uri}/model", run.info.run_id
    ).version
    writer.set_registered_model_alias("guarded-model", "production", version)

    as_user(monkeypatch, "credit-scoring-reader", "reader-pass-0001")
    reader = MlflowClient(auth_server.url, auth_server.url)
    assert reader.get_model_version_by_alias("guarded-model", "production").version == version
    with pytest.raises(MlflowException, match="403") as denied:
        reader.set_registered_model_alias("guarded-model", "production", version)
    assert denied.value.error_code == "PERMISSION_DENIED"
    with pytest.raises(MlflowException, match="403"):
        reader.delete_registered_model_alias("guarded-model", "production")
    with pytest.raises(MlflowException, match="403"):
        reader.set_model_version_tag("guarded-model", version, "validation_status", "passed")

    as_user(monkeypatch, None, None)
    with pytest.raises(MlflowException, match="401"):
        MlflowClient(auth_server.url, auth_server.url).get_registered_model("guarded-model")


def test_rerun_is_idempotent_and_rotates_passwords(
    auth_server: MlflowServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_access(auth_server, tmp_path, secrets(tmp_path, "writer-pass-0001", "reader-pass-0001"))
    out = run_access(
        auth_server, tmp_path, secrets(tmp_path, "writer-pass-0002", "reader-pass-0002")
    )
    assert "user credit-scoring-reader exists (password updated)" in out
    as_user(monkeypatch, "credit-scoring-reader", "reader-pass-0001")
    with pytest.raises(MlflowException, match="401"):
        MlflowClient(auth_server.url, auth_server.url).get_registered_model("guarded-model")
    as_user(monkeypatch, "credit-scoring-reader", "reader-pass-0002")
    assert MlflowClient(auth_server.url, auth_server.url).get_registered_model("guarded-model")


def _ready(server: MlflowServer, tmp_path: Path, user: str, password: str, *args: str) -> Any:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    pw_file = tmp_path / f"{user}-ready-password"
    pw_file.write_text(password + "\n")
    return subprocess.run(
        [str(VENV_BIN / "credit-scoring"), "registry-ready", *args],
        env={
            **clean,
            "MLFLOW_TRACKING_URI": server.url,
            "CREDIT_SCORING_HOME": str(tmp_path / "home"),
            "CREDIT_SCORING_MODEL_NAME": "guarded-model",
            "CREDIT_SCORING_REGISTRY_USERNAME": user,
            "CREDIT_SCORING_REGISTRY_PASSWORD_FILE": str(pw_file),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_registry_ready_waits_for_the_grant_of_the_identity(
    auth_server: MlflowServer, tmp_path: Path
) -> None:
    """The trainer's first step: an unknown identity (401) times out naming it; the writer holds
    MANAGE, the reader READ but not MANAGE."""
    unknown = _ready(auth_server, tmp_path, "nobody-yet", "nobody-pass-01", "--timeout", "3")
    assert unknown.returncode == 2, unknown.stdout
    assert "'nobody-yet' has no MANAGE" in unknown.stderr and "HTTP 401" in unknown.stderr
    run_access(auth_server, tmp_path, secrets(tmp_path, "writer-pass-0003", "reader-pass-0003"))
    writer = _ready(auth_server, tmp_path, "credit-scoring-writer", "writer-pass-0003")
    assert writer.returncode == 0, writer.stderr
    assert "credit-scoring-writer: MANAGE on registered model guarded-model" in writer.stdout
    reader = _ready(
        auth_server, tmp_path, "credit-scoring-reader", "reader-pass-0003", "--permission", "read"
    )
    assert reader.returncode == 0, reader.stderr
    denied = _ready(
        auth_server, tmp_path, "credit-scoring-reader", "reader-pass-0003", "--timeout", "2"
    )
    assert denied.returncode == 2
    # The CLI's error console wraps long lines at its width: compare the words.
    message = " ".join(denied.stderr.split())
    assert "no MANAGE grant on registered model 'guarded-model' yet" in message, denied.stderr


def test_short_or_missing_secrets_are_refused(auth_server: MlflowServer, tmp_path: Path) -> None:
    env = secrets(tmp_path, "short", "reader-pass-0001")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    proc = subprocess.run(
        [str(VENV_BIN / "credit-scoring"), "registry-access"],
        env={**clean, **env, "MLFLOW_TRACKING_URI": auth_server.url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "shorter than 12 characters" in proc.stderr


def test_access_module_does_not_need_the_server_extras() -> None:
    """The API image has no Flask-WTF: importing the module must not import MLflow's auth app."""
    import sys

    code = (
        "import sys, credit_scoring.registry.access; "
        "print([m for m in sys.modules if m.startswith('mlflow.server.auth')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
