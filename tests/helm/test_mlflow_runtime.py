"""The chart's MLflow commands run for real: the migration Job and the server with its arguments.

A fresh PostgreSQL database (127.0.0.1:5432, user postgres) per test run stands in for the
cluster's database; the backend store URI is a *bare* ``postgresql://`` URI in a file, as users
put it in the Secret. The migration Job's script is taken verbatim from the rendered Job; the
server runs through the MLflow image's entrypoint (``infra/docker/mlflow/entrypoint.py``) with
the rendered Deployment's arguments, only the port and the artifact directory changed for the
local run. Checked: the schema is created (and re-running is a no-op), MLflow answers for the
Host header the API sends (its Service name and port) and refuses any other host, and its
basic-auth app (registry access control) refuses anonymous requests and a wrong password.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg2
import pytest
from chart_helpers import REPO_ROOT, Manifest, one, pod_spec, render_objects
from psycopg2 import sql

pytestmark = [pytest.mark.helm, pytest.mark.slow]

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
ENTRYPOINT = REPO_ROOT / "infra" / "docker" / "mlflow" / "entrypoint.py"
BIN_DIR = Path(sys.executable).parent
ADMIN_PASSWORD = "admin-password-of-the-test"


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A fresh, empty database; its bare postgresql:// URI."""
    name = f"helm_mlflow_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(PG_DSN, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 (user postgres) is required: {exc}")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cur:
            for db in (name, f"{name}_auth"):
                cur.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db))
                )
        admin.close()


@pytest.fixture(scope="module")
def prod() -> list[Manifest]:
    return render_objects("platform")


def _secret_file(tmp_path: Path, workload: Manifest, uri: str) -> dict[str, str]:
    """Write each secret where the workload's env says its file is (``*_FILE``: the backend
    store URI; with registry access control the auth store URI, next to it, the admin password
    and the Flask secret); return the pod env."""
    contents = {
        "MLFLOW_BACKEND_STORE_URI_FILE": uri,
        "MLFLOW_AUTH_DATABASE_URI_FILE": f"{uri}_auth",  # created by the entrypoint
        "MLFLOW_AUTH_ADMIN_PASSWORD_FILE": ADMIN_PASSWORD,
        "MLFLOW_FLASK_SERVER_SECRET_KEY_FILE": "flask-secret-of-the-test",
    }
    container = pod_spec(workload)["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    for name in [n for n in env if n.endswith("_FILE")]:
        local = tmp_path / Path(env[name]).name
        local.write_text(contents[name] + "\n", encoding="utf-8")
        env[name] = str(local)
    env["HOME"] = str(tmp_path)
    return env


def _process_env(pod_env: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CREDIT_SCORING_"))}
    base["PATH"] = f"{BIN_DIR}{os.pathsep}{base.get('PATH', '')}"
    return {**base, **pod_env}


def _tables(uri: str) -> set[str]:
    with psycopg2.connect(uri, connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in cur.fetchall()}


def test_migration_job_creates_and_upgrades_the_schema(
    database: str, prod: list[Manifest], tmp_path: Path
) -> None:
    job = one(prod, "Job", "mlflow-migration")
    command = pod_spec(job)["containers"][0]["command"]
    env = _process_env(_secret_file(tmp_path, job, database))
    argv = [sys.executable, *command[1:]]  # "python" of the image = this interpreter
    assert _tables(database) == set()
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stderr[-3000:]
    tables = _tables(database)
    assert {
        "alembic_version",
        "experiments",
        "registered_models",
        "model_versions",
    } <= tables
    # pre-upgrade runs on every `helm upgrade`: an up-to-date schema must be a no-op.
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr[-3000:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_mlflow_server_with_the_chart_arguments(
    database: str, prod: list[Manifest], tmp_path: Path
) -> None:
    deployment = one(prod, "Deployment", "mlflow")
    container = pod_spec(deployment)["containers"][0]
    assert "command" not in container  # the image entrypoint runs
    port = _free_port()
    args = []
    for arg in container["args"]:
        if arg.startswith("--port="):
            arg = f"--port={port}"
        elif arg.startswith("--host="):
            arg = "--host=127.0.0.1"
        elif arg.startswith("--workers="):
            arg = "--workers=1"
        elif arg.startswith("--artifacts-destination="):
            arg = f"--artifacts-destination={tmp_path / 'mlartifacts'}"
        elif arg.startswith("--expose-prometheus="):
            arg = f"--expose-prometheus={tmp_path / 'prometheus'}"
        args.append(arg)
    env = _process_env(_secret_file(tmp_path, deployment, database))
    log = (tmp_path / "mlflow.log").open("w")
    server = subprocess.Popen(
        [sys.executable, str(ENTRYPOINT), *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        # Generous: the database migration, the artifact-store check and MLflow's imports (its
        # basic-auth app adds its own) on a shared CI machine.
        deadline = time.monotonic() + 600
        while True:
            assert server.poll() is None, (tmp_path / "mlflow.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "mlflow.log").read_text()[-3000:]
            time.sleep(0.5)

        service = one(prod, "Service", "mlflow")
        service_host = f"{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
        # The staging and prod APIs send the cross-namespace service name, the trainer (same
        # namespace) the short one.
        clients = {
            one(render_objects(env), "ConfigMap", "api")["data"]["MLFLOW_TRACKING_URI"]
            for env in ("staging", "prod")
        }
        assert clients == {
            f"http://{service['metadata']['name']}.mlops-platform.svc.cluster.local:5000"
        }
        trainer = one(prod, "ConfigMap", "trainer")["data"]["MLFLOW_TRACKING_URI"]
        assert trainer == f"http://{service_host}"
        search = "/api/2.0/mlflow/experiments/search?max_results=5"
        # Registry access control (--app-name basic-auth): the admin of the Secret signs in.
        admin = ("admin", ADMIN_PASSWORD)
        for host in (
            service_host,
            f"{service['metadata']['name']}.mlops-platform.svc.cluster.local:5000",
            f"127.0.0.1:{port}",  # kubectl port-forward on any local port
        ):
            answer = httpx.get(base + search, headers={"Host": host}, auth=admin, timeout=60)
            assert answer.status_code == 200, (host, answer.text[:300])
            assert answer.json()["experiments"][0]["name"] == "Default"
        assert httpx.get(base + search, timeout=60).status_code == 401  # anonymous
        wrong = httpx.get(base + search, auth=("admin", "not-the-password"), timeout=60)
        assert wrong.status_code == 401
        refused = httpx.get(
            base + search, headers={"Host": "evil.example.com"}, auth=admin, timeout=60
        )
        assert refused.status_code == 403
        # Probes carry the pod IP as Host: /health must stay exempt from the host check.
        assert httpx.get(base + "/health", headers={"Host": "10.1.2.3:5000"}).status_code == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()
