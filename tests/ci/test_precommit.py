"""The pre-commit configuration: valid, offline (local hooks from the virtualenv), and running the
linters of `make lint typecheck`, which CI runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from workflow_helpers import REPO_ROOT

pytestmark = pytest.mark.ci

CONFIG = REPO_ROOT / ".pre-commit-config.yaml"


def _hooks() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    hooks: dict[str, dict[str, Any]] = {}
    for repo in config["repos"]:
        # Hooks cloned from GitHub would need the network at install time.
        assert repo["repo"] == "local"
        hooks.update({hook["id"]: hook for hook in repo["hooks"]})
    return hooks


def test_config_is_valid() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("pre-commit")), "validate-config", str(CONFIG)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hooks_run_the_ci_linters_from_the_virtualenv() -> None:
    hooks = _hooks()
    assert {"ruff", "mypy", "actionlint"} <= set(hooks)
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    for hook_id in ("ruff", "mypy", "actionlint"):
        tool = Path(hooks[hook_id]["entry"].split()[0]).name
        assert f"$(BIN)/{tool}" in makefile, f"`make lint typecheck` does not run {tool}"
    for hook in hooks.values():
        executable = Path(hook["entry"].split()[0])
        assert executable.parent == Path(".venv/bin"), hook["id"]
        assert Path(sys.executable).with_name(executable.name).exists(), hook["id"]
