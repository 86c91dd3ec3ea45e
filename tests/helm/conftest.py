"""Fixtures for the Helm chart tests (helpers in ``chart_helpers``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Make ``chart_helpers`` importable whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chart_helpers import ENVS, Manifest, render_objects


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    """Objects rendered for each environment (install of release ``credit-scoring[-env]``)."""
    return {env: render_objects(env) for env in ENVS}


@pytest.fixture(scope="session")
def render() -> Callable[..., list[Manifest]]:
    """Render with custom values: ``render(env, values)``."""
    return render_objects


@pytest.fixture()
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A monkeypatch with every CREDIT_SCORING_* / MLFLOW_* variable of the session removed."""
    for key in list(os.environ):
        if key.startswith(("CREDIT_SCORING_", "MLFLOW_")):
            monkeypatch.delenv(key)
    yield monkeypatch
