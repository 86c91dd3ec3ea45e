"""Policy scan of the rendered chart with checkov (through ``infra/helm/scan.sh``).

checkov runs from its own virtualenv (``$CHECKOV_VENV``, default ``/tmp/checkov-venv``); the
script creates it with a pinned checkov from PyPI when it is missing (about two minutes once).
Skipped checks are justified in scan.sh (chart-wide) or in ``checkov.io/skipN`` annotations next
to the resource they concern.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from chart_helpers import HELM_DIR, render_chart

pytestmark = [pytest.mark.helm, pytest.mark.slow]

SCAN = HELM_DIR / "scan.sh"
# First run may have to create the checkov virtualenv.
TIMEOUT_S = 600


def _scan(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHON=sys.executable)
    return subprocess.run(
        ["bash", str(SCAN), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=env,
        check=False,
    )


def _counts(output: str) -> list[tuple[int, int, int]]:
    return [
        (int(p), int(f), int(s))
        for p, f, s in re.findall(
            r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)", output
        )
    ]


def test_rendered_chart_passes_checkov(tmp_path: Path) -> None:
    files = render_chart.write_rendered(tmp_path, list(render_chart.ENVIRONMENTS))
    assert len(files) > 20
    result = _scan(str(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    counts = _counts(result.stdout)
    assert counts, output[-4000:]
    passed, failed, skipped = counts[0]  # the kubernetes framework reports first
    assert failed == 0
    assert passed > 500  # the Kubernetes checks really ran on every resource
    # Only the justified exceptions: 2 chart-wide ids x images, plus the annotated resources.
    assert skipped > 0


def test_checkov_fails_an_insecure_manifest(tmp_path: Path) -> None:
    # Guards against a scan that passes because it checked nothing.
    (tmp_path / "insecure.yaml").write_text(
        """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: insecure
  namespace: demo
spec:
  selector:
    matchLabels: {app: insecure}
  template:
    metadata:
      labels: {app: insecure}
    spec:
      containers:
        - name: app
          image: ghcr.io/credit-scoring/credit-scoring-api:prod-v1.0.0
          securityContext:
            privileged: true
          env:
            - name: AWS_ACCESS_KEY_ID
              value: AKIAIOSFODNN7EXAMPLE
""",
        encoding="utf-8",
    )
    result = _scan(str(tmp_path))
    assert result.returncode != 0
    assert "CKV_K8S_16" in result.stdout  # privileged container
    assert "CKV_K8S_22" in result.stdout  # writable root filesystem
    assert "CKV_SECRET_2" in result.stdout  # plaintext AWS key
