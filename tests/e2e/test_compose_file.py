"""Static guarantees of docker-compose.yml, checked on the file as compose itself resolves it.

Cheap (no container starts) and run with the e2e test: published ports bind to 127.0.0.1 by
default, PostgreSQL is never published, start order is health based, data lives on named
volumes, the trainer sits behind its profile, and no secret is written into the file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

LONG_RUNNING = ("postgres", "mlflow-server", "api")
# The laptop defaults of docker-compose.yml (see .env.example); never valid anywhere else.
DEFAULTS = ("local-only-change-me", "local-dev-key")


def _compose_command() -> list[str]:
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return command
    reason = "no compose CLI (`docker compose` / `docker-compose`) to resolve the file"
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The file resolved with its defaults (an empty env file), every profile enabled."""
    empty_env = tmp_path_factory.mktemp("env") / "empty.env"
    empty_env.write_text("", encoding="utf-8")
    proc = subprocess.run(
        [*_compose_command(), "-f", str(COMPOSE_FILE), "--env-file", str(empty_env),
         "--profile", "*", "config", "--format", "json"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    config: dict[str, Any] = json.loads(proc.stdout)
    return config


def test_published_ports_bind_to_loopback_and_postgres_is_private(
    resolved: dict[str, Any],
) -> None:
    services = resolved["services"]
    assert not services["postgres"].get("ports"), "PostgreSQL must not be published on the host"
    published = {name: port for name, svc in services.items() for port in svc.get("ports") or []}
    assert {"mlflow-server", "api"} <= set(published)
    for name, port in published.items():
        assert port.get("host_ip") == "127.0.0.1", f"{name} publishes on {port}"
    assert str(services["mlflow-server"]["ports"][0]["published"]) == "5000"
    assert str(services["api"]["ports"][0]["published"]) == "8000"


def test_health_based_start_order(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    for name in LONG_RUNNING:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert services[name].get("restart") == "unless-stopped", name
    expected = {
        "mlflow-server": {"postgres": "service_healthy"},
        "mlflow-access": {"mlflow-server": "service_healthy"},
        "api": {"postgres": "service_healthy", "mlflow-access": "service_completed_successfully"},
        "trainer": {"mlflow-access": "service_completed_successfully"},
        "postgres": {"config-check": "service_completed_successfully"},
    }
    for name, needs in expected.items():
        depends = services[name].get("depends_on") or {}
        for dependency, condition in needs.items():
            assert depends.get(dependency, {}).get("condition") == condition, (
                f"{name} must wait for {dependency} ({condition}): {depends}"
            )


def test_example_credentials_are_refused_outside_the_local_profile(
    resolved: dict[str, Any],
) -> None:
    """The defaults (an empty .env) stop the stack before PostgreSQL starts, naming each
    credential; CREDIT_SCORING_PROFILE=local lets a laptop use them, with a warning."""
    guard = resolved["services"]["config-check"]
    script = REPO_ROOT / "infra" / "docker" / "check-secrets.sh"
    assert guard["entrypoint"] == ["sh", "/check-secrets.sh"]
    env = {k: v or "" for k, v in guard["environment"].items()}
    refused = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)
    assert refused.returncode == 1
    for name in ("POSTGRES_PASSWORD", "CREDIT_SCORING_API_KEYS", "MLFLOW_ADMIN_PASSWORD",
                 "MLFLOW_READER_PASSWORD", "MLFLOW_WRITER_PASSWORD"):  # fmt: skip
        assert name in refused.stderr
    local = subprocess.run(
        ["sh", str(script)],
        env={**env, "CREDIT_SCORING_PROFILE": "local"},
        capture_output=True,
        text=True,
    )
    assert local.returncode == 0 and "WARNING local profile" in local.stdout
    own = {k: (f"own-{k.lower()}" if k.startswith("CHECK_") else v) for k, v in env.items()}
    assert subprocess.run(["sh", str(script)], env=own, capture_output=True).returncode == 0


def test_registry_identities(resolved: dict[str, Any]) -> None:
    """MLflow runs its basic-auth app; the API reads with the read-only identity, the trainer
    and Airflow write with the writer identity."""
    services = resolved["services"]
    assert services["mlflow-server"]["command"][:4] == [
        "mlflow",
        "server",
        "--app-name",
        "basic-auth",
    ]
    assert "MLFLOW_AUTH_DATABASE_URI" in services["mlflow-server"]["environment"]
    assert services["mlflow-access"]["command"] == ["credit-scoring", "registry-access"]
    users = {
        name: services[name]["environment"].get("MLFLOW_TRACKING_USERNAME")
        for name in ("api", "trainer", "airflow-scheduler")
    }
    assert users == {
        "api": "credit-scoring-reader",
        "trainer": "credit-scoring-writer",
        "airflow-scheduler": "credit-scoring-writer",
    }


def test_trainer_is_a_one_shot_behind_its_profile(resolved: dict[str, Any]) -> None:
    trainer = resolved["services"]["trainer"]
    assert trainer.get("profiles") == ["trainer"]
    assert trainer.get("restart", "no") == "no"
    assert trainer["command"] == ["train-validate-promote"]
    assert trainer["image"] == resolved["services"]["api"]["image"]
    for name in LONG_RUNNING:
        assert not resolved["services"][name].get("profiles"), f"{name} must start by default"


def test_state_lives_on_named_volumes(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    mounts = {
        name: {(v["type"], v.get("source"), v["target"]) for v in svc.get("volumes") or []}
        for name, svc in services.items()
    }
    assert ("volume", "postgres-data", "/var/lib/postgresql/data") in mounts["postgres"]
    assert ("volume", "mlflow-artifacts", "/mlartifacts") in mounts["mlflow-server"]
    assert {"postgres-data", "mlflow-artifacts"} <= set(resolved["volumes"])


def test_images_are_built_from_the_repository(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    dockerfiles = {
        name: Path(svc["build"]["dockerfile"]).as_posix()
        for name, svc in services.items()
        if "build" in svc
    }
    assert dockerfiles["api"].endswith("infra/docker/api/Dockerfile")
    assert dockerfiles["mlflow-server"].endswith("infra/docker/mlflow/Dockerfile")
    assert services["api"]["image"].startswith("ghcr.io/credit-scoring/credit-scoring-api:")
    assert services["mlflow-server"]["image"].startswith(
        "ghcr.io/credit-scoring/credit-scoring-mlflow:"
    )
    assert services["postgres"]["image"].startswith("postgres:")


def test_every_credential_comes_from_the_environment(tmp_path: Path) -> None:
    """Each laptop default credential is a ``${VAR:-default}`` that .env overrides everywhere."""
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    alternatives = "|".join(re.escape(d) for d in DEFAULTS)
    variables = set(re.findall(r"\$\{([A-Z0-9_]+):-(?:" + alternatives + r")\}", text))
    assert {"POSTGRES_PASSWORD", "CREDIT_SCORING_API_KEYS"} <= variables
    env_file = tmp_path / "override.env"
    env_file.write_text("".join(f"{v}=sentinel-{v.lower()}\n" for v in variables), "utf-8")
    proc = subprocess.run(
        [*_compose_command(), "-f", str(COMPOSE_FILE), "--env-file", str(env_file),
         "--profile", "*", "config", "--format", "json"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for default in DEFAULTS:
        assert default not in proc.stdout, f"{default!r} is hard-coded somewhere"
    services = json.loads(proc.stdout)["services"]
    password = "sentinel-postgres_password"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == password
    mlflow_env = services["mlflow-server"]["environment"]
    assert f":{password}@postgres:5432/" in mlflow_env["MLFLOW_BACKEND_STORE_URI"]
    api_env = services["api"]["environment"]
    assert f":{password}@postgres:5432/" in api_env["CREDIT_SCORING_DATABASE_URL"]
    assert api_env["CREDIT_SCORING_API_KEYS"] == "sentinel-credit_scoring_api_keys"


def test_shadow_challenger_is_off_by_default_and_set_from_env(
    resolved: dict[str, Any], tmp_path: Path
) -> None:
    """The API's shadow alias and fraction come from .env (documented in .env.example); the
    default (empty alias) is off for the application's settings too."""
    from credit_scoring.config import Settings

    api_env = resolved["services"]["api"]["environment"]
    assert api_env["CREDIT_SCORING_SHADOW_ALIAS"] == ""
    assert Settings(shadow_alias=api_env["CREDIT_SCORING_SHADOW_ALIAS"]).shadow_alias is None
    example = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    assert (
        "CREDIT_SCORING_SHADOW_ALIAS=" in example and "CREDIT_SCORING_SHADOW_FRACTION=" in example
    )
    env_file = tmp_path / "shadow.env"
    env_file.write_text(
        "CREDIT_SCORING_SHADOW_ALIAS=staging\nCREDIT_SCORING_SHADOW_FRACTION=0.25\n", "utf-8"
    )
    proc = subprocess.run(
        [*_compose_command(), "-f", str(COMPOSE_FILE), "--env-file", str(env_file),
         "config", "--format", "json"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    api_env = json.loads(proc.stdout)["services"]["api"]["environment"]
    settings = Settings(
        shadow_alias=api_env["CREDIT_SCORING_SHADOW_ALIAS"],
        shadow_fraction=api_env["CREDIT_SCORING_SHADOW_FRACTION"],
    )
    assert (settings.shadow_alias, settings.shadow_fraction) == ("staging", 0.25)


def test_score_psi_settings_are_documented_and_passed_to_the_api(resolved: dict[str, Any]) -> None:
    """The live score PSI gauge's window and minimum: in .env.example, passed to the API with the
    application's defaults."""
    from credit_scoring.config import Settings

    api_env = resolved["services"]["api"]["environment"]
    example = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    defaults = Settings()
    for key, value in (
        ("CREDIT_SCORING_API_SCORE_PSI_WINDOW", defaults.api_score_psi_window),
        ("CREDIT_SCORING_API_SCORE_PSI_MIN_SCORES", defaults.api_score_psi_min_scores),
    ):
        assert f"{key}={value}\n" in example, key
        assert api_env[key] == str(value), key
