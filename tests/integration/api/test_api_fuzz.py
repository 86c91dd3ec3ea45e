"""Fuzz the running API from its own OpenAPI spec with schemathesis: no input gives a 5xx."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


def test_openapi_fuzz_has_no_server_errors(
    live: Any, registry: Any, start_api: Callable[..., Any], tmp_path: Path
) -> None:
    registry.set_alias("production", registry.versions["good"])
    api = start_api(registry.server.url)
    api.wait_ready()
    report = tmp_path / "schemathesis.txt"
    cmd = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{api.url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--header",
        f"X-API-Key: {live.api_key}",
        "--max-examples",
        "100",
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "1234",
        "--request-timeout",
        "15",
        "--generation-database",
        "none",
        "--no-color",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=800, check=False)
    report.write_text(proc.stdout + proc.stderr, encoding="utf-8")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    # It did exercise the scoring endpoints.
    cases = re.search(r"(\d+) generated, (\d+) passed", proc.stdout)
    assert cases is not None and int(cases.group(1)) == int(cases.group(2)) > 200
    assert (
        api.metric(
            'credit_scoring_http_requests_total{method="POST",route="/v1/score",status="422"}'
        )
        > 10
    )
    assert (
        api.metric(
            'credit_scoring_http_requests_total{method="POST",route="/v1/score",status="200"}'
        )
        >= 1
    )
