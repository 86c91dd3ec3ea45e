"""train -> validate -> promote -> train -> validate -> promote -> rollback through the real CLI,
against a real ``mlflow server`` on SQLite and on PostgreSQL, and on the embedded store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.servers import MlflowServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLI = str(Path(sys.executable).parent / "credit-scoring")


def run_cli(env: dict[str, str], *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [CLI, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == expect, f"{args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def cli_env(
    home: Path, tracking_uri: str | None, names: dict[str, str] | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(
        CREDIT_SCORING_HOME=str(home),
        CREDIT_SCORING_CV_REPEATS="1",
        CREDIT_SCORING_CV_FOLDS="3",
        # The comparison runs on every train; two families keep these multi-train flows bounded.
        CREDIT_SCORING_CANDIDATE_FAMILIES='["scorecard", "additive"]',
        COLUMNS="200",
    )
    env.update(names or {})
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


def models(env: dict[str, str]) -> list[dict[str, Any]]:
    return json.loads(run_cli(env, "models", "--json").stdout)


def aliases(env: dict[str, str]) -> dict[str, int]:
    """Aliases read in-process (one CLI start costs seconds of imports)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{env['CREDIT_SCORING_HOME']}/mlflow.db"
    name = env.get("CREDIT_SCORING_MODEL_NAME", "credit-scoring")
    try:
        model = MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model(name)
    except MlflowException:
        return {}
    return {alias: int(v) for alias, v in model.aliases.items()}


def full_flow(env: dict[str, str]) -> None:
    trained = run_cli(env, "train", "--json")
    first = json.loads(trained.stdout)
    assert first["version"] == 1 and first["metrics"]["test_auc"] > 0.7
    # stderr is not a terminal here: one plain line per step, no spinner frames.
    steps = [line for line in trained.stderr.splitlines() if line.startswith(("Training", "Split"))]
    assert steps[0] == "Splitting 1,000 rows (test 25%)"
    assert steps[1].startswith("Training the selected model (")
    assert "Comparing model families (1x3 folds)" in trained.stderr
    assert not set("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏") & set(trained.stderr)  # Rich's spinner frames
    assert aliases(env) == {}  # a fresh version has no alias (the guide's stage "None")

    run_cli(env, "promote", "--version", "1", expect=2)  # not validated yet: refused
    report = json.loads(run_cli(env, "validate", "--version", "1", "--json").stdout)
    assert report["passed"] and report["failed_checks"] == []
    assert aliases(env) == {"staging": 1}
    run_cli(env, "promote", "--reason", "first model", "--by", "ci")
    assert aliases(env) == {"staging": 1, "production": 1}

    run_cli(env, "train")
    run_cli(env, "validate")  # latest = 2, compared with champion v1
    assert aliases(env) == {"staging": 2, "production": 1}
    run_cli(env, "promote", "--version", "2", "--reason", "retrained")
    assert aliases(env) == {"staging": 2, "production": 2, "previous": 1}

    listed = {m["version"]: m for m in models(env)}  # the CLI listing itself
    assert listed[2]["validation_status"] == "passed"
    assert set(listed[2]["metrics"]) >= {"test_auc", "test_ks", "test_brier"}

    run_cli(env, "rollback", "--reason", "incident 42")
    assert aliases(env) == {"staging": 2, "production": 1}
    run_cli(env, "rollback", expect=2)  # nothing older than the first production version

    from mlflow import MlflowClient

    uri = env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{env['CREDIT_SCORING_HOME']}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = env.get("CREDIT_SCORING_MODEL_NAME", "credit-scoring")
    v2 = client.get_model_version(name, "2")
    assert v2.tags["promotion_reason"] == "retrained"
    assert v2.tags["rollback_reason"] == "incident 42"
    assert "gate_auc" in v2.tags
    v1 = client.get_model_version(name, "1")
    assert v1.tags["promoted_by"] == "ci"
    artifacts = {a.path for a in client.list_artifacts(v2.run_id, "validation")}
    assert artifacts == {"validation/report.json", "validation/model_card.html"}
    report2 = json.loads(
        Path(client.download_artifacts(v2.run_id, "validation/report.json")).read_text()
    )
    assert report2["champion_version"] == 1
    champion = next(c for c in report2["checks"] if c["category"] == "champion")
    assert champion["passed"] is True and champion["threshold"] is not None


def test_flow_on_sqlite_server(
    mlflow_sqlite_server: MlflowServer, tmp_path: Path, unique_names: dict[str, str]
) -> None:
    full_flow(cli_env(tmp_path / "home", mlflow_sqlite_server.url, unique_names))


def test_flow_on_postgres_server(mlflow_pg_server: MlflowServer, tmp_path: Path) -> None:
    full_flow(cli_env(tmp_path / "home", mlflow_pg_server.url))


def test_demo_on_embedded_store(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home", None)
    out = run_cli(env, "demo").stdout
    assert "version 1 is in production" in out
    assert (tmp_path / "home" / "mlflow.db").is_file()
    assert aliases(env) == {"staging": 1, "production": 1}
