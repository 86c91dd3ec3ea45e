"""Real components for the portfolio-scoring integration tests: a version of the German Credit
model trained by the real pipeline and promoted in a real ``mlflow server``, the ``credit-scoring``
CLI as a subprocess, a uvicorn process running the API on the same version, and one SparkSession
in ``local[2]`` for the whole test session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers.servers import VENV_BIN, MlflowServer, free_port, stop, wait_http

MODEL_NAME = "cs-portfolio"
CLI = str(VENV_BIN / "credit-scoring")


@dataclass(frozen=True)
class Registered:
    server: MlflowServer
    version: str

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "MLFLOW_TRACKING_URI": self.server.url,
            "CREDIT_SCORING_HOME": str(home),
            "CREDIT_SCORING_MODEL_NAME": MODEL_NAME,
            "CREDIT_SCORING_EXPERIMENT_NAME": MODEL_NAME,
            "COLUMNS": "200",
            **extra,
        }

    def settings(self, home: Path) -> Any:
        from credit_scoring.config import Settings

        return Settings(
            tracking_uri=self.server.url,
            home=home,
            model_name=MODEL_NAME,
            experiment_name=MODEL_NAME,
        )


@pytest.fixture(scope="session")
def registered(mlflow_sqlite_server: MlflowServer) -> Registered:
    """German Credit trained by the pipeline (quick CV), version promoted to production."""
    from credit_scoring.registry.promotion import promote
    from credit_scoring.training.pipeline import train

    settings = mlflow_sqlite_server.settings(
        cv_folds=2, cv_repeats=1, model_name=MODEL_NAME, experiment_name=MODEL_NAME
    )
    with warnings.catch_warnings():
        # Training is the fixture here, not the subject: its library warnings are not ours.
        warnings.simplefilter("ignore")
        result = train(settings=settings)
    from mlflow import MlflowClient

    MlflowClient(mlflow_sqlite_server.url, mlflow_sqlite_server.url).set_model_version_tag(
        MODEL_NAME, str(result.version), "validation_status", "passed"
    )
    promote(int(result.version), reason="portfolio tests", actor="pytest", settings=settings)
    return Registered(mlflow_sqlite_server, str(result.version))


def run_cli(
    env: dict[str, str], *args: str, expect: int = 0, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == expect, f"{args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@dataclass(frozen=True)
class Kit:
    """Helpers handed to the tests as a fixture (test modules do not import conftest)."""

    run_cli: Any = run_cli
    cli: str = CLI


@pytest.fixture(scope="session")
def kit() -> Kit:
    return Kit()


@pytest.fixture
def api_url(registered: Registered, tmp_path: Path) -> Iterator[str]:
    """The scoring API (uvicorn, no API keys) serving the production version."""
    import httpx

    port = free_port()
    env = registered.env(
        tmp_path / "api-home",
        CREDIT_SCORING_AUTH_DISABLED="true",
        CREDIT_SCORING_API_LOG_LEVEL="WARNING",
    )
    log = (tmp_path / "api.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "credit_scoring.api.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz", timeout=180, proc=proc)

        deadline = time.monotonic() + 120
        while httpx.get(url + "/readyz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One SparkSession in local[2] for the session (JVM start-up costs ~10 s)."""
    from credit_scoring.batch.spark import build_session

    session = build_session("local[2]", batch_rows=2_000)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
