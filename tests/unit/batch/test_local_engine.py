"""The local engine: CSV/Parquet files, folders and partitioned datasets in; every non-feature
column carried through, the API's scores, a rejects file naming each bad row, counts that add up,
nothing under the final names unless the whole job succeeded, idempotent re-runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from credit_scoring.batch.io import InputError, open_input
from credit_scoring.batch.local import score_local
from credit_scoring.batch.report import rejects_path_for
from credit_scoring.batch.validate import InputSchemaError
from credit_scoring.scoring.model import CreditModel

pytestmark = pytest.mark.unit

CARRIED = ["application_id", "age", "sex", "default", "true_pd", "segment"]


def _spoil(frame: pd.DataFrame) -> dict[int, tuple[str, str]]:
    """Break five rows; return {0-based position: (column, reason)}."""
    frame.loc[3, "purpose"] = "yacht"
    frame.loc[10, "duration_months"] = 0
    frame.loc[11, "annual_income"] = np.nan
    frame["delinquencies_2y"] = frame["delinquencies_2y"].astype("float64")
    frame.loc[1500, "delinquencies_2y"] = 2.5
    frame.loc[1999, "employment_years"] = 99
    return {
        3: ("purpose", "not one of the allowed categories"),
        10: ("duration_months", "below the minimum 1"),
        11: ("annual_income", "missing (required)"),  # NaN is written as null
        1500: ("delinquencies_2y", "not a whole number"),
        1999: ("employment_years", "above the maximum 60"),
    }


def _run(model: CreditModel, job: Any, src: Path, out: Path, **kw: Any) -> Any:
    return score_local(open_input(src), out, rejects_path_for(out), job, **kw)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_scores_carry_columns_and_reject_bad_rows(
    fmt: str,
    model: CreditModel,
    make_job: Callable[..., Any],
    portfolio: pd.DataFrame,
    tmp_path: Path,
) -> None:
    bad = _spoil(portfolio)
    src = tmp_path / f"book.{fmt}"
    if fmt == "csv":
        portfolio.to_csv(src, index=False)
    else:
        portfolio.to_parquet(src, index=False)
    out = tmp_path / "scores.parquet"
    report = _run(model, make_job(model, 3), src, out, batch_rows=256)

    assert (report.rows_in, report.rows_scored, report.rows_rejected) == (2000, 1995, 5)
    scored = pd.read_parquet(out)
    assert list(scored.columns[: len(CARRIED)]) == CARRIED
    assert not set(model.schema.feature_names) & set(scored.columns)
    good = portfolio.drop(index=list(bad)).reset_index(drop=True)
    if fmt == "csv":  # CSV columns are carried as the text of the file
        assert scored["application_id"].tolist() == good["application_id"].tolist()
        assert scored["age"].tolist() == good["age"].astype(str).tolist()
    else:
        pd.testing.assert_frame_equal(scored[CARRIED], good[CARRIED])
    records = good[model.schema.feature_names].to_dict(orient="records")
    expected = model.score(records, max_reasons=3)
    np.testing.assert_allclose(scored["probability"], [r.probability for r in expected], atol=1e-12)
    np.testing.assert_allclose(scored["score"], [r.score for r in expected], atol=1e-9)
    assert scored["decision"].astype(str).tolist() == [r.decision for r in expected]
    for i in (1, 2, 3):
        want = [r.reasons[i - 1].feature if len(r.reasons) >= i else None for r in expected]
        got = scored[f"reason_{i}"].astype(object).where(scored[f"reason_{i}"].notna(), None)
        assert got.tolist() == want
    first = expected[0].reasons[0]
    assert scored.loc[0, "reason_1_points"] == pytest.approx(first.points, abs=1e-9)
    assert scored.loc[0, "reason_1_text"] == model.schema.feature(first.feature).label
    assert set(scored["model_name"].astype(str)) == {"credit-scoring"}
    assert set(scored["model_version"].astype(str)) == {"7"}
    assert scored["scored_at"].nunique() == 1 and str(scored["scored_at"].dt.tz) == "UTC"
    assert pq.ParquetFile(out).metadata.num_row_groups > 1  # written batch by batch

    rejects = pd.read_csv(rejects_path_for(out))
    assert rejects["file"].unique().tolist() == [str(src)]
    assert rejects["row"].tolist() == [p + 1 for p in sorted(bad)]
    assert list(zip(rejects["column"], rejects["reason"], strict=True)) == [
        bad[p] for p in sorted(bad)
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_folders_and_partitioned_datasets_keep_file_row_numbers_and_partition_keys(
    model: CreditModel, make_job: Callable[..., Any], portfolio: pd.DataFrame, tmp_path: Path
) -> None:
    _spoil(portfolio)
    root = tmp_path / "book"
    for month, part in (("2026-01", portfolio.iloc[:1200]), ("2026-02", portfolio.iloc[1200:])):
        (root / f"month={month}").mkdir(parents=True)
        part.to_parquet(root / f"month={month}" / "part-0.parquet", index=False)
    (root / "_SUCCESS").write_text("")  # marker files are not data
    out = tmp_path / "scores.parquet"
    report = _run(model, make_job(model, 0), root, out, batch_rows=500)
    assert (report.rows_in, report.rows_scored, report.rows_rejected) == (2000, 1995, 5)
    scored = pd.read_parquet(out)
    assert scored["month"].value_counts().to_dict() == {"2026-01": 1197, "2026-02": 798}
    assert not any(c.startswith("reason_") for c in scored.columns)
    rejects = pd.read_csv(rejects_path_for(out))
    second = str(root / "month=2026-02" / "part-0.parquet")
    assert rejects[["file", "row"]].values.tolist() == [
        [str(root / "month=2026-01" / "part-0.parquet"), 4],
        [str(root / "month=2026-01" / "part-0.parquet"), 11],
        [str(root / "month=2026-01" / "part-0.parquet"), 12],
        [second, 301],  # position 1500 is row 301 of the second file
        [second, 800],
    ]


def test_interrupted_job_leaves_nothing_and_rerun_is_idempotent(
    model: CreditModel, make_job: Callable[..., Any], portfolio: pd.DataFrame, tmp_path: Path
) -> None:
    src = tmp_path / "book.parquet"
    portfolio.to_parquet(src, index=False)
    out = tmp_path / "scores.parquet"
    job = make_job(model, 2)

    seen: list[int] = []

    def interrupt(rows: int) -> None:
        seen.append(rows)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(model, job, src, out, batch_rows=200, on_progress=interrupt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.parquet"]

    first = _run(model, job, src, out, batch_rows=300)
    before = pd.read_parquet(out)
    seen.clear()
    with pytest.raises(KeyboardInterrupt):  # an interrupted re-run keeps the previous output
        _run(model, job, src, out, batch_rows=200, on_progress=interrupt)
    pd.testing.assert_frame_equal(pd.read_parquet(out), before)
    second = _run(model, job, src, out, batch_rows=700)
    pd.testing.assert_frame_equal(pd.read_parquet(out), before)
    assert first.rows_scored == second.rows_scored == 2000
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "book.parquet",
        "scores.parquet",
        "scores.rejects.csv",
    ]


def test_wrong_inputs_fail_before_writing(
    model: CreditModel, make_job: Callable[..., Any], portfolio: pd.DataFrame, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "scores.parquet"
    job = make_job(model)
    src = tmp_path / "book.parquet"
    portfolio.drop(columns=["purpose"]).to_parquet(src)
    with pytest.raises(InputSchemaError, match="purpose"):
        _run(model, job, src, out)
    with pytest.raises(InputError, match="does not exist"):
        open_input(tmp_path / "nope.parquet")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    portfolio.to_csv(mixed / "a.csv", index=False)
    portfolio.to_parquet(mixed / "b.parquet")
    with pytest.raises(InputError, match="mixes CSV and Parquet"):
        open_input(mixed)
    other = tmp_path / "layouts"
    other.mkdir()
    portfolio.to_csv(other / "a.csv", index=False)
    portfolio.drop(columns=["segment"]).to_csv(other / "b.csv", index=False)
    with pytest.raises(InputError, match="a folder must hold files of one layout"):
        open_input(other)
    assert not out.parent.exists() or not any(out.parent.iterdir())
