"""The registered model accepts real data through MLflow: the bundled CSV and the run's holdout
as they are (integer columns included, no casting), through ``mlflow.pyfunc.load_model`` and
through ``mlflow.pyfunc.spark_udf`` in Spark local mode."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_scoring.config import Settings
from credit_scoring.data.io import GERMAN_CREDIT, bundled_path
from credit_scoring.scoring.model import CreditModel, load_credit_model
from credit_scoring.training.pipeline import TrainResult, train

pytestmark = [pytest.mark.model, pytest.mark.slow]

HOMES: list[Path] = []  # the module's store (set by the module fixture)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TrainResult, CreditModel]]:
    import mlflow

    home = tmp_path_factory.mktemp("signature-home")
    HOMES[:] = [home]
    settings = Settings(home=home, tracking_uri=None, cv_max_rows=0)
    result = train(settings=settings)
    model = load_credit_model(f"models:/credit-scoring/{result.version}", home / "dl")
    yield result, model
    mlflow.set_tracking_uri(None)


@pytest.fixture(autouse=True)
def keep_store(trained: tuple[TrainResult, CreditModel], isolated_mlflow: Path) -> None:
    """The module-scoped store outlives the per-test isolation fixture: point MLflow at it."""
    import mlflow

    uri = f"sqlite:///{HOMES[0] / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def _expected(model: CreditModel, frame: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(frame.to_dict(orient="records"))


def test_signature_types_follow_schema_and_data(trained: tuple[TrainResult, CreditModel]) -> None:
    import mlflow

    result, _ = trained
    info = mlflow.models.get_model_info(f"runs:/{result.run_id}/model")
    assert info.signature is not None
    types = {c.name: c.type.name for c in info.signature.inputs.inputs}
    assert types["duration_in_month"] == "long"  # integer feature, integer data
    assert types["purpose"] == "string"


def test_pyfunc_scores_bundled_csv_and_holdout_as_is(
    trained: tuple[TrainResult, CreditModel],
) -> None:
    import mlflow

    result, model = trained
    pyfunc = mlflow.pyfunc.load_model(f"models:/credit-scoring/{result.version}")
    raw = pd.read_csv(bundled_path(GERMAN_CREDIT))
    assert (raw.dtypes == "int64").any(), "the CSV must exercise integer columns"
    out = pyfunc.predict(raw)
    assert len(out) == len(raw)
    np.testing.assert_allclose(out["probability"].to_numpy(), _expected(model, raw), atol=1e-12)

    holdout = pd.read_parquet(
        mlflow.artifacts.download_artifacts(
            run_id=result.run_id, artifact_path="holdout/holdout.parquet"
        )
    )
    out = pyfunc.predict(holdout)
    np.testing.assert_allclose(out["probability"].to_numpy(), _expected(model, holdout), atol=1e-12)


def test_spark_udf_scores_bundled_csv(
    trained: tuple[TrainResult, CreditModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pyspark")
    import mlflow
    from pyspark.sql import SparkSession

    result, model = trained
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    monkeypatch.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("credit-scoring-spark-udf")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    try:
        raw = pd.read_csv(bundled_path(GERMAN_CREDIT))
        sdf = spark.createDataFrame(raw)
        udf = mlflow.pyfunc.spark_udf(
            spark,
            f"models:/credit-scoring/{result.version}",
            result_type="probability double, score double, decision string",
            env_manager="local",
        )
        names = model.schema.feature_names
        scored = sdf.withColumn("out", udf(*names)).select("out.*").toPandas()
    finally:
        spark.stop()
    assert len(scored) == len(raw)
    np.testing.assert_allclose(scored["probability"].to_numpy(), _expected(model, raw), atol=1e-9)
    assert set(scored["decision"]) <= {"approve", "review", "decline"}
    assert os.environ["PYSPARK_PYTHON"] == sys.executable
