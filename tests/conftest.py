"""Shared fixtures: per-test isolation of MLflow state and settings, real servers on demand."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.servers import (
    MlflowServer,
    fresh_database,
    postgres_available,
    start_mlflow,
    stop,
)

from credit_scoring.config import Settings, get_settings

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def isolated_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test gets its own embedded store under tmp_path and no inherited MLflow state."""
    import mlflow

    home = tmp_path / "cs-home"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("CREDIT_SCORING_HOME", str(home))
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    get_settings.cache_clear()
    yield home
    if mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """Tests that build the app in-process let it install its JSON handler on the root logger
    (``configure_logging``), writing to this test's captured stderr: put the root logger back
    afterwards, so later log lines (e.g. py4j's at exit) never go to a closed stream."""
    import logging

    from credit_scoring.api.logs import BufferedStreamHandler

    root = logging.getLogger()
    level = root.level
    yield
    # Only the app's own handler goes: pytest adds and removes its capture handlers per phase.
    for handler in [h for h in root.handlers if isinstance(h, BufferedStreamHandler)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


@pytest.fixture
def settings(isolated_mlflow: Path) -> Settings:
    """Embedded-store settings with quick cross-validation (and model comparison)."""
    return Settings(
        home=isolated_mlflow,
        cv_repeats=1,
        cv_folds=3,
        candidate_families=["scorecard", "additive", "lightgbm"],
    )


def require_postgres() -> None:
    """Skip outside CI when PostgreSQL is absent; in CI its absence is a failure."""
    if postgres_available():
        return
    if IN_CI:
        pytest.fail("PostgreSQL at 127.0.0.1:5432 is required in CI but does not answer")
    pytest.skip("PostgreSQL at 127.0.0.1:5432 does not answer (outside CI: skipped)")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database URL (dropped afterwards)."""
    require_postgres()
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def mlflow_sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` process on a SQLite store (shared by the session: tests isolate
    themselves with their own model and experiment names, see ``unique_names``)."""
    server = start_mlflow(tmp_path_factory.mktemp("mlflow-sqlite"))
    yield server
    stop(server.proc)


@pytest.fixture
def mlflow_pg_server(tmp_path: Path, pg_url: str) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` process whose backend store is a fresh PostgreSQL database."""
    server = start_mlflow(tmp_path / "mlflow-pg", backend_store_uri=pg_url)
    yield server
    stop(server.proc)


@pytest.fixture
def unique_names(request: pytest.FixtureRequest) -> dict[str, str]:
    """Model and experiment names unique to this test, as CREDIT_SCORING_* variables."""
    import re

    name = "cs-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    return {"CREDIT_SCORING_MODEL_NAME": name, "CREDIT_SCORING_EXPERIMENT_NAME": name}


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the reliability suite's table (sent, answered, rejected, recorded, lost) if it ran."""
    from helpers.servers import RELIABILITY_TABLE

    lines = config.stash.get(RELIABILITY_TABLE, [])
    if lines:
        terminalreporter.section("reliability")
        for line in lines:
            terminalreporter.write_line(line)
