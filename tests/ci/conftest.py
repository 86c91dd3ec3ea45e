"""Fixtures for the CI/CD tests (helpers in ``workflow_helpers``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Make ``workflow_helpers`` importable whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workflow_helpers import Workflow, load_workflow


@pytest.fixture(scope="session")
def ci() -> Workflow:
    """.github/workflows/ci.yml."""
    return load_workflow("ci.yml")


@pytest.fixture(scope="session")
def release() -> Workflow:
    """.github/workflows/release.yml."""
    return load_workflow("release.yml")
