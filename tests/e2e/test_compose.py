"""End-to-end test of the docker compose stack, exactly as docs/deployment.md runs it.

Builds the images, starts ``postgres`` + ``mlflow-server``, runs the one-shot ``trainer``
(train -> validate -> promote), starts the ``api`` and scores applications over HTTP with an API
key; then promotes a second version and watches the *running* API switch to it, restarts the API
and sees it come back ready, and restarts PostgreSQL and checks that nothing registered was lost.

Everything runs under a unique compose project name with its own free host ports and random
credentials, and is torn down (volumes too) even when the test fails; on failure the container
logs are printed.

Docker: when ``../shared/docker/standin-images`` exists (machines without a container registry)
it is run first to provide an engine and local stand-ins of the base images. Without Docker the
test is skipped, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
STANDIN = REPO_ROOT.parent / "shared" / "docker" / "standin-images"
BUNDLED = REPO_ROOT / "src" / "credit_scoring" / "data" / "bundled"
MODEL_NAME = "credit-scoring"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    """Skip locally, fail in CI: the e2e test must never silently vanish from CI."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _ensure_docker() -> list[str]:
    """Make an engine and the base images available; return the compose command to use."""
    if STANDIN.is_file() and os.environ.get("CREDIT_SCORING_E2E_STANDIN", "1") != "0":
        try:
            proc = subprocess.run(
                ["bash", str(STANDIN), "python:3.11-slim", "postgres:16"],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=1500,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            _unavailable(f"{STANDIN} could not run: {exc}")
        else:
            if proc.returncode != 0:
                _unavailable(f"{STANDIN} failed (exit {proc.returncode}):\n{_tail(proc.stderr)}")
    if shutil.which("docker") is None:
        _unavailable("the docker CLI is not installed")
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        _unavailable(f"no Docker engine answers: {_tail(info.stderr, 5)}")
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        version = subprocess.run([*command, "version"], capture_output=True, text=True, check=False)
        if version.returncode == 0:
            return command
    _unavailable("neither `docker compose` nor `docker-compose` is installed")
    raise AssertionError("unreachable")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Call ``probe`` until it returns a truthy value; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


class Stack:
    """One compose project of docker-compose.yml, driven through the compose CLI."""

    def __init__(self, compose: list[str], project: str, env_file: Path, env: dict[str, str]):
        self.compose = compose
        self.project = project
        self.env_file = env_file
        self.env = {**os.environ, **env}
        self.timings: list[tuple[str, float]] = []

    def cmd(self, *args: str, profile: bool = False) -> list[str]:
        base = [
            *self.compose,
            "-f",
            str(COMPOSE_FILE),
            "-p",
            self.project,
            "--env-file",
            str(self.env_file),
        ]
        if profile:
            base += ["--profile", "trainer"]
        return [*base, *args]

    def run(
        self, *args: str, timeout: float = 600, check: bool = True, profile: bool = False
    ) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        proc = subprocess.run(
            self.cmd(*args, profile=profile),
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.timings.append((" ".join(args[:3]), time.monotonic() - started))
        if check and proc.returncode != 0:
            raise AssertionError(
                f"`{' '.join(self.cmd(*args, profile=profile))}` exited {proc.returncode}\n"
                f"--- stdout ---\n{_tail(proc.stdout, 80)}\n--- stderr ---\n"
                f"{_tail(proc.stderr, 80)}"
            )
        return proc

    def container_state(self, service: str) -> dict[str, Any]:
        cid = self.run("ps", "-q", service).stdout.strip()
        assert cid, f"service {service} has no container"
        out = subprocess.run(
            [
                "docker",
                "inspect",
                "-f",
                "{{.Id}} {{.State.StartedAt}} {{.RestartCount}} {{.State.Status}}",
                cid,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return {"id": out[0], "started_at": out[1], "restarts": int(out[2]), "status": out[3]}

    def psql(self, database: str, sql: str) -> str:
        return self.run(
            "exec",
            "-T",
            "postgres",
            "psql",
            "-U",
            self.env["POSTGRES_USER"],
            "-d",
            database,
            "-Atc",
            sql,
        ).stdout.strip()

    def print_logs(self) -> None:
        logs = self.run(
            "logs", "--no-color", "--timestamps", "--tail", "400", check=False, profile=True
        )
        print(f"===== container logs of compose project {self.project} =====")
        print(logs.stdout)
        print(logs.stderr)
        ps = self.run("ps", "-a", check=False, profile=True)
        print(ps.stdout)

    def down(self) -> None:
        self.run(
            "down",
            "--volumes",
            "--remove-orphans",
            "--timeout",
            "10",
            check=False,
            profile=True,
            timeout=300,
        )


def _applications(count: int) -> list[dict[str, Any]]:
    """The first ``count`` rows of the bundled German Credit data, model features only."""
    schema = yaml.safe_load((BUNDLED / "german_credit.schema.yaml").read_text(encoding="utf-8"))
    features = schema["features"]
    rows: list[dict[str, Any]] = []
    with (BUNDLED / "german_credit.csv").open(newline="", encoding="utf-8") as handle:
        for raw in csv.DictReader(handle):
            app: dict[str, Any] = {}
            for feature in features:
                value = raw[feature["name"]]
                if feature["type"] == "numeric":
                    app[feature["name"]] = int(value) if feature.get("integer") else float(value)
                else:
                    app[feature["name"]] = value
            rows.append(app)
            if len(rows) == count:
                break
    return rows


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A fresh compose project with random credentials and free ports; always torn down."""
    compose = _ensure_docker()
    project = f"cse2e{uuid.uuid4().hex[:10]}"
    values = {
        "POSTGRES_USER": "credit_scoring",
        # Hex only: the password is spliced into PostgreSQL URLs unencoded.
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "POSTGRES_DB": "mlflow",
        "CREDIT_SCORING_API_KEYS": f"{secrets.token_urlsafe(24)},{secrets.token_urlsafe(24)}",
        "CREDIT_SCORING_ADMIN_API_KEY": secrets.token_urlsafe(24),
        "MLFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(18),
        "MLFLOW_WRITER_PASSWORD": secrets.token_urlsafe(18),
        "MLFLOW_READER_PASSWORD": secrets.token_urlsafe(18),
        "CREDIT_SCORING_RELOAD_INTERVAL_S": "2",
        "MLFLOW_HOST_PORT": str(_free_port()),
        "API_HOST_PORT": str(_free_port()),
        "BIND_ADDRESS": "127.0.0.1",
    }
    env_file = tmp_path / "e2e.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    stack = Stack(compose, project, env_file, values)
    failed = True
    try:
        yield stack
        failed = False
    finally:
        try:
            if failed:
                stack.print_logs()
        finally:
            stack.down()
            print("step timings (s):", [(name, round(sec, 1)) for name, sec in stack.timings])


def test_compose_stack_end_to_end(stack: Stack) -> None:
    """The deployment guide's local stack, from build to restarts, over real HTTP.

    MLflow runs with basic auth: the test reads the registry as the admin."""
    admin = ("admin", stack.env["MLFLOW_ADMIN_PASSWORD"])
    with httpx.Client(timeout=30, auth=admin) as http:
        _exercise(stack, http)


def _exercise(stack: Stack, http: httpx.Client) -> None:
    env = stack.env
    mlflow_url = f"http://127.0.0.1:{env['MLFLOW_HOST_PORT']}"
    api_url = f"http://127.0.0.1:{env['API_HOST_PORT']}"
    key = env["CREDIT_SCORING_API_KEYS"].split(",")[1]
    applications = _applications(5)

    # Both CLIs accept the file (compose specification, no v1-only syntax).
    for compose in (["docker", "compose"], ["docker-compose"]):
        if (
            shutil.which(compose[0])
            and subprocess.run([*compose, "version"], capture_output=True, check=False).returncode
            == 0
        ):
            subprocess.run(
                [
                    *compose,
                    "-f",
                    str(COMPOSE_FILE),
                    "--env-file",
                    str(stack.env_file),
                    "--profile",
                    "trainer",
                    "config",
                    "-q",
                ],
                cwd=REPO_ROOT,
                env=stack.env,
                check=True,
                capture_output=True,
                text=True,
            )

    # 1. Build, then the tracking stack.
    stack.run("build", timeout=1800)
    for image in stack.run("config", "--images").stdout.split():
        if image.startswith("postgres:"):
            continue
        _check_image(image)
    stack.run(
        "up", "-d", "--wait", "--wait-timeout", "240", "postgres", "mlflow-server", timeout=300
    )
    # Healthy means one worker answers; the others may still be starting (the basic-auth app
    # loads for tens of seconds on a busy machine), so poll with a deadline.
    _wait_for("mlflow /health", lambda: http.get(f"{mlflow_url}/health").status_code == 200, 120)
    _wait_for("MLflow UI", lambda: http.get(f"{mlflow_url}/").status_code == 200, 120)
    # PostgreSQL is not published on the host.
    assert stack.run("port", "postgres", "5432", check=False).stdout.strip() in {"", ":0"}

    # 2. The one-shot trainer: train -> validate -> promote version 1.
    stack.run("run", "--rm", "trainer", profile=True, timeout=900)
    versions = _registry_versions(http, mlflow_url)
    assert [v["version"] for v in versions] == ["1"]
    assert _aliases(http, mlflow_url)["production"] == "1"
    # Registry access control: nobody anonymous; the API's read-only identity cannot move
    # `production` (403), the writer could.
    assert httpx.get(f"{mlflow_url}/api/2.0/mlflow/registered-models/get",
                     params={"name": MODEL_NAME}).status_code == 401  # fmt: skip
    alias = {"name": MODEL_NAME, "alias": "production", "version": "1"}
    reader = ("credit-scoring-reader", env["MLFLOW_READER_PASSWORD"])
    moved = httpx.post(f"{mlflow_url}/api/2.0/mlflow/registered-models/alias", json=alias,
                       auth=reader, timeout=30)  # fmt: skip
    assert moved.status_code == 403, moved.text

    # 3. The API serves version 1 to callers with a key, and only to them.
    stack.run("up", "-d", "--wait", "--wait-timeout", "240", "api", timeout=300)
    _wait_for("api /readyz", lambda: http.get(f"{api_url}/readyz").status_code == 200, 180)
    first = _score_all(http, api_url, key, applications)
    assert {r["model_version"] for r in first} == {"1"}
    for result in first:
        assert 0.0 <= result["probability"] <= 1.0
        assert result["decision"] in {"approve", "review", "decline"}
    no_key = http.post(f"{api_url}/v1/score", json=applications[0])
    assert no_key.status_code == 401, no_key.text
    # /docs works offline: Swagger UI's files come from the image, not from a CDN.
    docs = http.get(f"{api_url}/docs")
    assert docs.status_code == 200 and "cdn." not in docs.text, docs.text[:500]
    bundle = http.get(f"{api_url}/static/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert http.get(f"{api_url}/ui", follow_redirects=False).status_code == 303
    bad_key = http.post(
        f"{api_url}/v1/score", json=applications[0], headers={"X-API-Key": "not-a-key"}
    )
    assert bad_key.status_code == 401, bad_key.text
    bad_input = http.post(
        f"{api_url}/v1/score",
        json={**applications[0], "credit_amount": -5},
        headers={"X-API-Key": key},
    )
    assert bad_input.status_code == 422 and "credit_amount" in bad_input.text, bad_input.text
    # The API records every decision in the ledger in PostgreSQL (database `predictions`).
    # The API creates the ledger tables when it starts (an empty ledger, not a missing one).
    assert stack.psql("predictions", "SELECT to_regclass('decision_ledger') IS NOT NULL") == "t"
    logged = _wait_for(
        "decision_ledger rows",
        lambda: (
            int(stack.psql("predictions", "SELECT count(*) FROM decision_ledger") or 0)
            >= len(applications)
        ),
        60,
    )
    assert logged

    # 4. A second promotion is picked up by the running API, without a restart.
    before = stack.container_state("api")
    stack.run("run", "--rm", "trainer", profile=True, timeout=900)
    aliases = _aliases(http, mlflow_url)
    assert (aliases["production"], aliases.get("previous")) == ("2", "1"), aliases
    _wait_for(
        "the running api to serve version 2",
        lambda: _score(http, api_url, key, applications[0])["model_version"] == "2",
        90,
    )
    after = stack.container_state("api")
    assert after == before, f"the api container restarted: {before} -> {after}"
    second = _score_all(http, api_url, key, applications)
    assert {r["model_version"] for r in second} == {"2"}

    # 5. Restarting the API: it comes back ready and serves the production version.
    stack.run("restart", "api", timeout=120)
    assert stack.container_state("api")["started_at"] != before["started_at"]
    _wait_for(
        "api /readyz after restart",
        lambda: http.get(f"{api_url}/readyz").json().get("model_version") == "2",
        180,
    )
    assert {r["model_version"] for r in _score_all(http, api_url, key, applications)} == {"2"}

    # 6. Restarting PostgreSQL loses nothing registered.
    registered = _registry_snapshot(http, mlflow_url)
    log_rows = int(stack.psql("predictions", "SELECT count(*) FROM decision_ledger"))
    stack.run("restart", "postgres", timeout=120)
    stack.run("up", "-d", "--wait", "--wait-timeout", "120", "postgres", timeout=180)
    after_restart = _wait_for(
        "MLflow to answer after the PostgreSQL restart",
        lambda: _registry_snapshot(http, mlflow_url),
        120,
        2,
    )
    assert after_restart == registered
    # The registered artifacts are still downloadable through the artifact proxy.
    run_id = registered["versions"][-1]["run_id"]
    artifacts = http.get(f"{mlflow_url}/api/2.0/mlflow/artifacts/list", params={"run_id": run_id})
    assert artifacts.status_code == 200 and artifacts.json().get("files"), artifacts.text
    # The API still scores with version 2 and logs again once PostgreSQL is back.
    assert _score(http, api_url, key, applications[0])["model_version"] == "2"
    _wait_for(
        "decision_ledger to grow after the PostgreSQL restart",
        lambda: int(stack.psql("predictions", "SELECT count(*) FROM decision_ledger")) > log_rows,
        60,
        2,
    )


def _check_image(image: str) -> None:
    """Non-root, with a health check, and no credential baked into its environment."""
    inspect = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{json .Config}}", image],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    config = json.loads(inspect.stdout)
    assert config["User"] == "10001:10001", f"{image} runs as {config['User']!r}"
    assert (config.get("Healthcheck") or {}).get("Test"), f"{image} has no HEALTHCHECK"
    for entry in config.get("Env") or []:
        name = entry.split("=", 1)[0]
        assert not any(word in name for word in ("PASSWORD", "API_KEY", "SECRET", "TOKEN")), (
            f"{image} bakes in {name}"
        )


def _score(http: httpx.Client, api_url: str, key: str, app: dict[str, Any]) -> dict[str, Any]:
    response = http.post(f"{api_url}/v1/score", json=app, headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert response.headers.get("X-Model-Version") == body["model_version"]
    return body


def _score_all(
    http: httpx.Client, api_url: str, key: str, apps: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    return [_score(http, api_url, key, app) for app in apps]


def _registry_versions(http: httpx.Client, mlflow_url: str) -> list[dict[str, Any]]:
    response = http.get(
        f"{mlflow_url}/api/2.0/mlflow/model-versions/search",
        params={"filter": f"name='{MODEL_NAME}'", "max_results": 100},
    )
    response.raise_for_status()
    versions = response.json().get("model_versions", [])
    return sorted(
        (
            {
                "version": v["version"],
                "run_id": v["run_id"],
                "source": v["source"],
                "status": v["status"],
            }
            for v in versions
        ),
        key=lambda v: int(v["version"]),
    )


def _aliases(http: httpx.Client, mlflow_url: str) -> dict[str, str]:
    response = http.get(
        f"{mlflow_url}/api/2.0/mlflow/registered-models/get", params={"name": MODEL_NAME}
    )
    response.raise_for_status()
    model = response.json()["registered_model"]
    return {a["alias"]: a["version"] for a in model.get("aliases", [])}


def _registry_snapshot(http: httpx.Client, mlflow_url: str) -> dict[str, Any]:
    runs = http.get(
        f"{mlflow_url}/api/2.0/mlflow/experiments/get-by-name",
        params={"experiment_name": MODEL_NAME},
    )
    runs.raise_for_status()
    return {
        "versions": _registry_versions(http, mlflow_url),
        "aliases": _aliases(http, mlflow_url),
        "experiment_id": runs.json()["experiment"]["experiment_id"],
    }
