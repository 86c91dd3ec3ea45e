"""Fixtures of the Airflow tests: an Airflow home with a fresh metadata DB and a real MLflow server.

These tests run inside the Airflow virtual environment (``airflow/run-tests.sh``). Collected from
an environment without Airflow they are ignored. Airflow reads its configuration when it is first
imported, so the environment is set here, before any test module imports it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "airflow" / "dags"

if importlib.util.find_spec("airflow") is None:
    collect_ignore_glob = ["test_*.py"]
else:
    _ROOT = Path(tempfile.mkdtemp(prefix="cs-airflow-tests-"))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(_ROOT / "airflow-home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_ROOT}/airflow.db",
            "CREDIT_SCORING_HOME": str(_ROOT / "credit-scoring-home"),
            # Fewer CV folds keep the training DAG at seconds; the gate still runs in full.
            "CREDIT_SCORING_CV_FOLDS": "3",
            "CREDIT_SCORING_CV_REPEATS": "1",
        }
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite in a temp dir)."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` (SQLite backend, proxied artifacts) on a free port."""
    import httpx

    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    mlflow_bin = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [
            mlflow_bin, "server", "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
            "--artifacts-destination", str(root / "artifacts"), "--workers", "1",
        ],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(root / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not become healthy in 240 s")
            time.sleep(0.5)
        os.environ["MLFLOW_TRACKING_URI"] = url
        yield url
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def dagbag(airflow_db: Path) -> object:
    """The project's DAG folder parsed by Airflow."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))
