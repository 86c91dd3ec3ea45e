"""The compose ``airflow`` profile is valid and wired as documented (``docker compose config``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.airflow

REPO = Path(__file__).resolve().parents[2]

AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    if shutil.which("docker") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("docker (with the compose plugin) is required in CI")
        pytest.skip("docker is not installed")
    done = subprocess.run(
        ["docker", "compose", "--profile", "airflow", "config", "--format", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_airflow_services_only_in_their_profile(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) >= AIRFLOW_SERVICES
    for name in AIRFLOW_SERVICES:
        assert services[name]["profiles"] == ["airflow"]
    plain = subprocess.run(
        ["docker", "compose", "config", "--services"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    assert not AIRFLOW_SERVICES & set(plain)


def test_airflow_uses_its_image_own_database_and_local_ui(config: dict[str, Any]) -> None:
    services = config["services"]
    api = services["airflow-api-server"]
    assert api["build"]["dockerfile"] == "infra/docker/airflow.Dockerfile"
    [port] = api["ports"]
    assert (port["host_ip"], str(port["published"]), port["target"]) == ("127.0.0.1", "8080", 8080)
    env = api["environment"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow-server:5000"
    # The tasks read the API's prediction log from its own database, not Airflow's.
    assert env["CREDIT_SCORING_DATABASE_URL"].endswith("@postgres:5432/predictions")
    for name in ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor"):
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully"
    assert services["airflow-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"
