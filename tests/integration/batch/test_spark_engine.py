"""The Spark engine in ``local[2]`` gives the local engine's output row for row (same scores,
same carried columns, same rejects), on Parquet datasets and CSV, and from the CLI entry point
with the registered model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers.batch_models import portfolio_frame, train_model

from credit_scoring.batch.io import open_input
from credit_scoring.batch.local import score_local
from credit_scoring.batch.model import RegisteredModel
from credit_scoring.batch.report import rejects_path_for
from credit_scoring.batch.spark import score_spark
from credit_scoring.batch.transform import ScoringJob
from credit_scoring.data.synthetic import generate, synthetic_schema

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def registered_tiny() -> RegisteredModel:
    model = train_model(synthetic_schema(), generate(5_000, seed=3), additive=True)
    return RegisteredModel(
        model, "tiny", "3", model.booster.model_to_string(), json.dumps(model.metadata())
    )


def _book(tmp_path: Path, fmt: str) -> Path:
    frame = portfolio_frame(6_000, seed=21)
    frame["delinquencies_2y"] = frame["delinquencies_2y"].astype("float64")
    frame.loc[7, "purpose"] = "yacht"
    frame.loc[4_321, "delinquencies_2y"] = 0.5
    frame.loc[5_999, "duration_months"] = 500
    if fmt == "csv":
        root = tmp_path / "book-csv"
        root.mkdir()
        frame.iloc[:2_500].to_csv(root / "a.csv", index=False)
        frame.iloc[2_500:].to_csv(root / "b.csv", index=False)
        return root
    root = tmp_path / "book"
    for seg, part in frame.groupby("segment"):
        (root / f"segment={seg}").mkdir(parents=True)
        half = len(part) // 2
        part.iloc[:half].to_parquet(root / f"segment={seg}" / "p0.parquet", index=False)
        part.iloc[half:].to_parquet(root / f"segment={seg}" / "p1.parquet", index=False)
    return root


def _local(reg: RegisteredModel, data: Path, out: Path, reasons: int) -> Any:
    job = ScoringJob(reg.model, reg.name, reg.version, reasons, datetime.now(UTC))
    return score_local(open_input(data), out, rejects_path_for(out), job, batch_rows=1_000)


def _same_rows(local: pd.DataFrame, spark: pd.DataFrame) -> None:
    local = local.sort_values("application_id").reset_index(drop=True)
    spark = spark.sort_values("application_id").reset_index(drop=True)
    assert sorted(local.columns) == sorted(spark.columns)
    spark = spark[local.columns]
    for col in local.columns:
        if col == "scored_at":
            continue
        a, b = local[col], spark[col]
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a.to_numpy(), b.to_numpy(), err_msg=col)
        else:
            a = a.astype(object).where(a.notna(), None)
            b = b.astype(object).where(b.notna(), None)
            assert [str(v) for v in a] == [str(v) for v in b], col


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_spark_equals_local_row_for_row(
    spark: Any, registered_tiny: RegisteredModel, tmp_path: Path, fmt: str
) -> None:
    data = _book(tmp_path, fmt)
    local_out = tmp_path / "local.parquet"
    spark_out = tmp_path / "spark-scores"
    lrep = _local(registered_tiny, data, local_out, 3)
    srep = score_spark(spark, str(data), str(spark_out), registered_tiny, 3)
    assert (srep.rows_in, srep.rows_scored, srep.rows_rejected) == (6_000, 5_997, 3)
    assert (lrep.rows_in, lrep.rows_scored, lrep.rows_rejected) == (6_000, 5_997, 3)
    local_df, spark_df = pd.read_parquet(local_out), pd.read_parquet(spark_out)
    _same_rows(local_df, spark_df)
    assert str(spark_df["scored_at"].dt.tz) == "UTC"

    lrej = pd.read_csv(rejects_path_for(local_out)).sort_values(["file", "row"])
    srej = pd.read_csv(rejects_path_for(spark_out)).sort_values(["file", "row"])
    cols = ["file", "column", "value", "reason"]
    assert sorted(map(tuple, srej[cols].values.tolist())) == sorted(
        map(tuple, lrej[cols].values.tolist())
    )
    if fmt == "parquet":  # Spark knows Parquet row numbers, not CSV ones
        assert srej[["file", "row"]].values.tolist() == lrej[["file", "row"]].values.tolist()
    else:
        assert srej["row"].isna().all()
    # No temporary directories or files are left beside the outputs.
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_entry_with_the_registered_model(
    spark: Any, registered: Any, kit: Any, tmp_path: Path
) -> None:
    """score_portfolio(engine="spark"), as ``credit-scoring score --engine spark`` calls it,
    against the local engine with the production version of the real registry."""
    from credit_scoring.batch.run import score_portfolio
    from credit_scoring.data.io import load_german_credit

    book = load_german_credit()
    book.insert(0, "application_id", [f"G{i:05d}" for i in range(len(book))])
    data = tmp_path / "german.csv"
    book.to_csv(data, index=False)
    settings = registered.settings(tmp_path / "home")
    local = score_portfolio(settings, str(data), str(tmp_path / "local.parquet"), reasons=2)
    remote = score_portfolio(
        settings,
        str(data),
        str(tmp_path / "spark-out"),
        reasons=2,
        engine="spark",
        master="local[2]",
        batch_rows=300,
    )
    assert local.rows_scored == remote.rows_scored == 1000
    assert remote.model_version == registered.version
    _same_rows(pd.read_parquet(tmp_path / "local.parquet"), pd.read_parquet(tmp_path / "spark-out"))
