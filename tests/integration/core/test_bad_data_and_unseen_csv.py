"""Bad data fails with a clear message and registers nothing; an unseen CSV trains as is."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from helpers.servers import MlflowServer
from mlflow import MlflowClient
from test_cli_flow import cli_env, run_cli

from credit_scoring.data.io import load_german_credit
from credit_scoring.data.synthetic import generate

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def nothing_logged(server: MlflowServer, names: dict[str, str]) -> None:
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    model = names["CREDIT_SCORING_MODEL_NAME"]
    assert client.search_registered_models(f"name = '{model}'") == []
    exp = client.get_experiment_by_name(names["CREDIT_SCORING_EXPERIMENT_NAME"])
    assert exp is None or client.search_runs([exp.experiment_id]) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda f: f.drop(columns=["purpose"]), "column 'purpose': missing"),
        (
            lambda f: f.assign(
                credit_amount=f["credit_amount"].astype(str).where(f.index != 4, "lots")
            ),
            "column 'credit_amount': expected numeric",
        ),
        (lambda f: f.assign(creditability="good"), "only one class"),
        (
            lambda f: f.assign(creditability=f["creditability"].where(f.index != 0, "unknown")),
            "unknown values ['unknown']",
        ),
        (lambda f: f.head(0), "has no rows"),
    ],
    ids=["missing-column", "wrong-type", "one-class", "unknown-target", "empty"],
)
def test_bad_data_registers_nothing(
    mlflow_sqlite_server: MlflowServer,
    tmp_path: Path,
    unique_names: dict[str, str],
    mutate: Callable[[pd.DataFrame], pd.DataFrame],
    expected: str,
) -> None:
    data = tmp_path / "applications.csv"
    mutate(load_german_credit()).to_csv(data, index=False)
    env = cli_env(tmp_path / "home", mlflow_sqlite_server.url, unique_names)
    from credit_scoring.data.io import GERMAN_CREDIT_SCHEMA, bundled_path

    proc = run_cli(
        env,
        "train",
        "--data",
        str(data),
        "--schema",
        str(bundled_path(GERMAN_CREDIT_SCHEMA)),
        expect=2,
    )
    assert expected in proc.stderr.replace("\n", " ") or expected in proc.stderr
    assert "applications.csv" in proc.stderr
    nothing_logged(mlflow_sqlite_server, unique_names)


def test_unseen_csv_with_inferred_schema(
    mlflow_sqlite_server: MlflowServer, tmp_path: Path, unique_names: dict[str, str]
) -> None:
    frame = generate(3000, seed=3).drop(columns=["true_pd"])
    frame = frame.rename(columns={"default": "went_bad", "annual_income": "income_eur"})
    frame["went_bad"] = frame["went_bad"].map({1: "yes", 0: "no"})
    data = tmp_path / "other_lender.parquet"
    frame.to_parquet(data)
    env = cli_env(tmp_path / "home", mlflow_sqlite_server.url, unique_names)
    proc = run_cli(env, "train", "--data", str(data), "--target", "went_bad", "--json")
    result = json.loads(proc.stdout)
    # Inference never uses a protected attribute silently: excluded, declared, and said so.
    assert "'sex': protected" in proc.stderr and "'age': protected" in proc.stderr
    assert result["version"] == 1
    assert 0.7 < result["metrics"]["test_auc"] < 0.9  # ground truth ~0.84 (data.synthetic)
    client = MlflowClient(
        tracking_uri=mlflow_sqlite_server.url, registry_uri=mlflow_sqlite_server.url
    )
    schema = json.loads(
        Path(client.download_artifacts(result["run_id"], "feature_schema.json")).read_text()
    )
    assert schema["target"] == {"name": "went_bad", "positive": ["yes"], "negative": ["no"]}
    assert "income_eur" in [f["name"] for f in schema["features"]]
    assert {"age", "sex"}.isdisjoint(f["name"] for f in schema["features"])
    assert {p["source"] for p in schema["protected"]} == {"age", "sex"}


def test_target_required_without_schema(tmp_path: Path) -> None:
    data = tmp_path / "x.csv"
    pd.DataFrame({"a": [1, 2], "y": [0, 1]}).to_csv(data, index=False)
    proc = run_cli(cli_env(tmp_path / "home", None), "train", "--data", str(data), expect=2)
    assert "--target is required" in proc.stderr
