"""Real components for the API integration tests: an ``mlflow server`` with registered versions,
uvicorn processes running the API, and a fresh PostgreSQL database.

Versions: 1 is trained by the real pipeline (quick CV settings); 2 is a second registration of
the same model files (a "new" version to promote); 3 has a corrupt booster (must be refused).
Versions 1 and 2 carry ``validation_status=passed`` so ``promote()`` accepts them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers.servers import (
    VENV_BIN,
    MlflowServer,
    free_port,
    fresh_database,
    start_mlflow,
    stop,
    wait_http,
)

API_KEY = "it-scoring-key"
ADMIN_KEY = "it-admin-key"
WEBHOOK_SECRET = "it-webhook-secret"


def _popen(
    cmd: list[str], out: Any, env: dict[str, str], cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` with stdout+stderr appended to ``out`` (the child keeps its own handle)."""
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)


@pytest.fixture(scope="session")
def mlflow_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture(scope="session")
def mlflow_server(mlflow_root: Path) -> Iterator[MlflowServer]:
    server = start_mlflow(mlflow_root)
    yield server
    stop(server.proc)


@dataclass
class Registry:
    server: MlflowServer
    versions: dict[str, str] = field(default_factory=dict)

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.server.url, registry_uri=self.server.url)

    def set_alias(self, alias: str, version: str) -> None:
        self.client().set_registered_model_alias("credit-scoring", alias, version)


@pytest.fixture(scope="session")
def registry(mlflow_server: MlflowServer) -> Registry:
    """Versions 1 (trained), 2 (same files), 3 (broken) and alias production -> 1."""
    import mlflow

    from credit_scoring.registry.promotion import promote
    from credit_scoring.training.pipeline import train

    settings = mlflow_server.settings(cv_folds=2, cv_repeats=1)
    with warnings.catch_warnings():
        # Training is the fixture here, not the subject: its library warnings are not ours.
        warnings.simplefilter("ignore")
        result = train(settings=settings)
    reg = Registry(mlflow_server)
    mc = reg.client()
    name = settings.model_name
    v1 = mc.get_model_version(name, str(result.version))
    work = Path(tempfile.mkdtemp())
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{v1.version}",
            dst_path=str(work / "m"),
            tracking_uri=mlflow_server.url,
            registry_uri=mlflow_server.url,
        )
    )
    exp = mc.get_experiment_by_name(settings.experiment_name)

    def register_copy(run_name: str) -> Any:
        run = mc.create_run(exp.experiment_id, run_name=run_name)
        mc.log_artifacts(run.info.run_id, str(local), "model")
        mc.set_terminated(run.info.run_id)
        return mc.create_model_version(
            name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
        )

    # Version 2: the same model files registered again (a new version to promote).
    v2 = register_copy("copy-of-v1")
    # Version 3: a corrupt booster (must be refused at load).
    (local / "artifacts" / "booster.txt").write_text("corrupt", encoding="utf-8")
    v3 = register_copy("broken-model")
    shutil.rmtree(work, ignore_errors=True)
    for v in (v1, v2, v3):
        mc.set_model_version_tag(name, v.version, "validation_status", "passed")
    promote(int(v1.version), reason="integration test", actor="pytest", settings=settings)
    reg.versions = {"good": str(v1.version), "next": str(v2.version), "broken": str(v3.version)}
    return reg


@dataclass
class ApiProcess:
    url: str
    home: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, headers={"X-API-Key": API_KEY}, timeout=10, **kw)

    def post(
        self, path: str, key: str = API_KEY, headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        merged = {"X-API-Key": key, **(headers or {})}
        return httpx.post(self.url + path, headers=merged, timeout=30, **kw)

    def wait_ready(self, timeout: float = 120, version: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"API exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                r = httpx.get(self.url + "/readyz", timeout=5)
                body = r.json()
                if r.status_code == 200 and (version is None or body["model_version"] == version):
                    return body
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"API not ready ({body}):\n{self.logs()[-4000:]}")

    def logs(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_metric(self, line_prefix: str, minimum: float, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        value = self.metric(line_prefix)
        while value < minimum and time.monotonic() < deadline:
            time.sleep(0.3)
            value = self.metric(line_prefix)
        return value

    def metric(self, line_prefix: str) -> float:
        text = httpx.get(self.url + "/metrics", timeout=5).text
        values = [
            float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(line_prefix)
        ]
        return sum(values)


@pytest.fixture
def start_api(tmp_path: Path) -> Iterator[Callable[..., ApiProcess]]:
    """Start ``uvicorn --factory credit_scoring.api.app:create_app`` with the given settings."""
    procs: list[ApiProcess] = []

    def start(tracking_uri: str, home: Path | None = None, **env: str) -> ApiProcess:
        port = free_port()
        home = home or tmp_path / f"api-home-{uuid.uuid4().hex[:6]}"
        log = tmp_path / f"api-{port}.log"
        full_env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "CREDIT_SCORING_HOME": str(home),
            "CREDIT_SCORING_API_KEYS": f"other-key,{API_KEY}",
            "CREDIT_SCORING_ADMIN_API_KEY": ADMIN_KEY,
            "CREDIT_SCORING_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "CREDIT_SCORING_RELOAD_INTERVAL_S": "1",
            **env,
        }
        with log.open("ab") as out:
            proc = _popen(
                [
                    str(VENV_BIN / "python"),
                    "-m",
                    "uvicorn",
                    "--factory",
                    "credit_scoring.api.app:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-access-log",
                    "--timeout-graceful-shutdown",
                    "20",
                ],
                out,
                full_env,
            )
        api = ApiProcess(f"http://127.0.0.1:{port}", home, proc, log)
        procs.append(api)
        wait_http(api.url + "/healthz", timeout=180, proc=proc)
        return api

    yield start
    for api in procs:
        stop(api.proc)


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database (dropped afterwards); yields its URL."""
    with fresh_database("cs_api_test") as url:
        yield url


@pytest.fixture(scope="session")
def application() -> dict[str, Any]:
    """A real applicant from the bundled data."""
    import pandas as pd

    from credit_scoring.data.schema import FeatureSchema

    root = Path(__file__).resolve().parents[3] / "src" / "credit_scoring" / "data" / "bundled"
    schema = FeatureSchema.load(root / "german_credit.schema.yaml")
    row = pd.read_csv(root / "german_credit.csv")[schema.feature_names].iloc[1]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


@dataclass(frozen=True)
class LiveKit:
    """Helpers handed to the tests as a fixture (test modules do not import conftest)."""

    api_key: str = API_KEY
    admin_key: str = ADMIN_KEY
    webhook_secret: str = WEBHOOK_SECRET
    start_mlflow: Callable[..., MlflowServer] = start_mlflow
    stop: Callable[..., int] = stop


@pytest.fixture(scope="session")
def live() -> LiveKit:
    return LiveKit()
