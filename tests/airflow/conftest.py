"""Fixtures of the Airflow tests: an Airflow home with a fresh metadata DB and a real MLflow server.

These tests run inside the Airflow virtual environment (``airflow/run-tests.sh``). Collected from
an environment without Airflow they are ignored. Airflow reads its configuration when it is first
imported, so the environment is set here, before any test module imports it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "airflow" / "dags"

_spec = importlib.util.find_spec("airflow")
# The repository's own airflow/ folder is a namespace package (no origin): that is not Airflow.
if _spec is None or _spec.origin is None:
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


# Warnings raised inside Airflow's own machinery (its in-process execution API imports
# starlette's test client) and MLflow's advisory warnings during training, not by our code; with
# the suite's "error" filter they would fail tasks that work in a real deployment.
_AIRFLOW_WARNING_FILTERS = (
    "ignore::starlette.exceptions.StarletteDeprecationWarning",
    "ignore::DeprecationWarning:(airflow|svcs|fastapi|cadwyn|structlog)(\\..*)?",
    "ignore:The specified dataset source can be interpreted in multiple ways:UserWarning",
    "ignore:Hint. Inferred schema contains integer column:UserWarning",
    # shap's import calls a matplotlib function that is pending deprecation.
    "ignore::PendingDeprecationWarning:shap(\\..*)?",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            for spec in _AIRFLOW_WARNING_FILTERS:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture(autouse=True)
def isolated_mlflow() -> Iterator[Path]:
    """Overrides the suite's per-test isolation: these tests share one story across tests."""
    yield Path(os.environ["CREDIT_SCORING_HOME"])


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite in a temp dir)."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` (SQLite backend, proxied artifacts) on a free port."""
    from helpers.servers import start_mlflow, stop

    server = start_mlflow(tmp_path_factory.mktemp("mlflow"))
    os.environ["MLFLOW_TRACKING_URI"] = server.url
    try:
        yield server.url
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        stop(server.proc)


@pytest.fixture(scope="session")
def dagbag(airflow_db: Path) -> object:
    """The project's DAG folder parsed by Airflow."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))
