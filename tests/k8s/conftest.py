"""Fixtures of the pod harness: Docker, the project images (built once per session), secrets.

Docker: when ``../shared/docker/standin-images`` exists (machines without a container registry)
it is run first. Without Docker the tests are skipped, except in CI (``CI=true``), where they
fail. Every container, volume and network is labelled ``pods-harness=<prefix>`` and removed at
the end, also on failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helm"))

REPO_ROOT = Path(__file__).resolve().parents[2]
STANDIN = REPO_ROOT.parent / "shared" / "docker" / "standin-images"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DOCKERFILES = {
    "credit-scoring-api": "infra/docker/api/Dockerfile",
    "credit-scoring-mlflow": "infra/docker/mlflow/Dockerfile",
    "credit-scoring-serving": "infra/docker/api/serving.Dockerfile",
}
POSTGRES_IMAGE = "postgres:16"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """An engine and the base images (stand-ins where no registry is reachable)."""
    if STANDIN.is_file():
        proc = subprocess.run(
            ["bash", str(STANDIN), "python:3.11-slim", POSTGRES_IMAGE],
            capture_output=True,
            text=True,
            timeout=1500,
            check=False,
        )
        if proc.returncode != 0:
            _unavailable(f"{STANDIN} failed: {proc.stderr[-2000:]}")
    if shutil.which("docker") is None:
        _unavailable("the docker CLI is not installed")
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        _unavailable("no Docker engine answers")
    for image in ("python:3.11-slim", POSTGRES_IMAGE):
        present = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
        if present.returncode != 0:
            subprocess.run(["docker", "pull", "-q", image], check=True, timeout=600)


def _build(name: str) -> tuple[str, str]:
    proc = subprocess.run(
        ["docker", "build", "-q", "-f", DOCKERFILES[name], "."],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"docker build {name} failed:\n{proc.stderr[-3000:]}")
    return name, proc.stdout.strip().splitlines()[-1]


# The stand-in postgres image (../shared/docker/standin-images) differs from the official one in
# two ways the chart relies on: the official image runs as uid/gid 999 and reads
# POSTGRES_PASSWORD_FILE (and the other *_FILE variables). This layer gives the stand-in both, so
# the chart's StatefulSet runs as rendered; on machines with the real image it is not built. The
# image is told apart by its postgres user's uid, not by where the checkout sits (a clone outside
# the project's folder has no ../shared, yet the engine may hold the stand-in).
_STANDIN_POSTGRES_FIX = r"""
FROM {base}
USER root
RUN groupmod -g 999 postgres && usermod -u 999 -g 999 postgres \
    && chown -R 999:999 /var/lib/postgresql /var/run/postgresql \
    && printf '%s\n' '#!/bin/bash' 'set -e' \
       'for v in POSTGRES_PASSWORD POSTGRES_USER POSTGRES_DB; do f="${{v}}_FILE";' \
       '  if [ -n "${{!f}}" ]; then export "$v=$(cat "${{!f}}")"; unset "$f"; fi; done' \
       'exec docker-entrypoint.sh "$@"' > /usr/local/bin/file-env-entrypoint.sh \
    && chmod 755 /usr/local/bin/file-env-entrypoint.sh
USER postgres
ENTRYPOINT ["file-env-entrypoint.sh"]
CMD ["postgres"]
"""


def _postgres_uid() -> str:
    proc = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "id", POSTGRES_IMAGE, "-u", "postgres"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.stdout.strip()


def _postgres_image() -> str:
    if _postgres_uid() == "999":  # the official image
        return POSTGRES_IMAGE
    proc = subprocess.run(
        ["docker", "build", "-q", "-"],
        input=_STANDIN_POSTGRES_FIX.format(base=POSTGRES_IMAGE),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"stand-in postgres fix failed:\n{proc.stderr[-2000:]}")
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def images(docker_engine: None) -> dict[str, str]:
    """Image name -> id of the project images built from this checkout (once per session)."""
    with ThreadPoolExecutor(4) as pool:
        postgres = pool.submit(_postgres_image)
        built = dict(pool.map(_build, DOCKERFILES))
        return {**built, "postgres": postgres.result()}


@pytest.fixture(scope="session")
def prefix() -> str:
    """Unique name prefix of this session's containers, volumes and networks."""
    return f"ph{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def credentials() -> dict[str, str]:
    """Random credentials of this session (what an operator puts into the Secret)."""
    return {
        "api-keys": f"key-{secrets.token_hex(8)},key-{secrets.token_hex(8)}",
        "admin-api-key": f"admin-{secrets.token_hex(12)}",
        "webhook-secret": secrets.token_hex(16),
        "postgres-password": secrets.token_hex(12),
        # Registry access control (MLflow basic auth): admin, writer, read-only API identity.
        "mlflow-admin-password": f"admin-{secrets.token_hex(12)}",
        "mlflow-writer-password": f"writer-{secrets.token_hex(12)}",
        "mlflow-reader-password": f"reader-{secrets.token_hex(12)}",
        "mlflow-flask-secret-key": secrets.token_hex(32),
    }


REPORT: list[str] = []


@pytest.fixture(scope="session")
def report() -> list[str]:
    """Lines printed in pytest's summary (tables, unhonoured fields, timings), pass or fail."""
    return REPORT


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("pods as rendered (tests/k8s)")
        for line in REPORT:
            terminalreporter.write_line(line)
