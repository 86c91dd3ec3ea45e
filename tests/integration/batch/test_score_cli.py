"""``credit-scoring score`` against a real MLflow registry: the same answers as the running API
for the same rows, rejects named by row, counts that add up, clean interruption, clear errors."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from credit_scoring.data.io import german_credit_schema, load_german_credit

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


def _book() -> tuple[pd.DataFrame, dict[int, str]]:
    """German Credit with an account key and a segment, three rows broken."""
    frame = load_german_credit()
    frame.insert(0, "account", [f"ACC-{i:06d}" for i in range(len(frame))])
    frame["segment"] = np.where(frame.index % 2 == 0, "retail", "private")
    frame.loc[5, "duration_in_month"] = -3
    frame.loc[77, "purpose"] = "yacht"
    frame.loc[500, "credit_amount"] = None
    return frame, {5: "duration_in_month", 77: "purpose", 500: "credit_amount"}


def test_cli_scores_every_row_as_the_api_does(
    registered: Any, api_url: str, kit: Any, tmp_path: Path
) -> None:
    book, bad = _book()
    data = tmp_path / "book.csv"
    book.to_csv(data, index=False)
    out = tmp_path / "scores.parquet"
    proc = kit.run_cli(
        registered.env(tmp_path / "home"),
        "score",
        "--data",
        str(data),
        "--out",
        str(out),
        "--reasons",
        "4",
        "--json",
    )
    report = json.loads(proc.stdout)
    assert report["rows_in"] == 1000 and report["rows_rejected"] == 3
    assert report["rows_scored"] == 997 and report["model_version"] == registered.version
    assert "Rich" not in proc.stderr and "rows/s" not in proc.stderr  # no bar without a terminal

    scored = pd.read_parquet(out)
    schema = german_credit_schema()
    good = book.drop(index=list(bad)).reset_index(drop=True)
    assert scored["account"].tolist() == good["account"].tolist()
    assert scored["segment"].tolist() == good["segment"].tolist()
    assert scored["creditability"].tolist() == good["creditability"].tolist()
    assert not set(schema.feature_names) & set(scored.columns)

    records = json.loads(good[schema.feature_names].to_json(orient="records"))
    resp = httpx.post(
        f"{api_url}/v1/score/batch?max_reasons=4", json={"applications": records}, timeout=60
    )
    assert resp.status_code == 200, resp.text
    api = resp.json()
    assert api["model_version"] == registered.version
    answers = api["results"]
    pd_api = [a["probability"] for a in answers]
    np.testing.assert_allclose(scored["probability"], pd_api, atol=1e-12)
    np.testing.assert_allclose(scored["score"], [a["score"] for a in answers], atol=1e-9)
    assert scored["decision"].astype(str).tolist() == [a["decision"] for a in answers]
    for i in range(4):
        codes = scored[f"reason_{i + 1}"].astype(object)
        want = [a["reasons"][i]["feature"] if len(a["reasons"]) > i else None for a in answers]
        assert codes.where(codes.notna(), None).tolist() == want
        points = scored[f"reason_{i + 1}_points"].to_numpy()
        want_pts = [a["reasons"][i]["points"] if len(a["reasons"]) > i else np.nan for a in answers]
        np.testing.assert_allclose(points, want_pts, atol=1e-9)
    # A single applicant through POST /v1/score (the one-row path) agrees too.
    one = httpx.post(f"{api_url}/v1/score", json=records[0], timeout=30).json()
    assert one["probability"] == pytest.approx(scored.loc[0, "probability"], abs=1e-12)

    rejects = pd.read_csv(tmp_path / "scores.rejects.csv")
    assert rejects["row"].tolist() == [p + 1 for p in sorted(bad)]
    assert rejects["column"].tolist() == [bad[p] for p in sorted(bad)]
    assert set(rejects["file"]) == {str(data)}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_job_leaves_nothing_under_the_final_name(
    registered: Any, kit: Any, tmp_path: Path, sig: signal.Signals
) -> None:
    book, _ = _book()
    data = tmp_path / "big.parquet"
    pd.concat([book] * 400, ignore_index=True).to_parquet(data, index=False)  # 400k rows
    out = tmp_path / "out" / "scores.parquet"
    proc = subprocess.Popen(
        [kit.cli, "score", "--data", str(data), "--out", str(out), "--batch-rows", "200"],
        env=registered.env(tmp_path / "home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while len(list(out.parent.glob(".*.tmp-*"))) < 2:  # output and rejects being written
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no temporary output appeared"
            time.sleep(0.05)
        assert not out.exists()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0, err
    assert list(out.parent.iterdir()) == [], err.decode()


def test_bad_requests_fail_with_a_clear_message(registered: Any, kit: Any, tmp_path: Path) -> None:
    env = registered.env(tmp_path / "home")
    book, _ = _book()
    data = tmp_path / "book.parquet"
    book.drop(columns=["purpose"]).to_parquet(data)
    out = str(tmp_path / "scores.parquet")
    proc = kit.run_cli(env, "score", "--data", str(data), "--out", out, expect=2)
    assert "required feature(s) ['purpose']" in proc.stderr
    proc = kit.run_cli(env, "score", "--data", str(data), "--out", out, "--version", "99", expect=2)
    assert "has no version 99" in proc.stderr
    proc = kit.run_cli(env, "score", "--data", str(tmp_path / "nope"), "--out", out, expect=2)
    assert "does not exist" in proc.stderr
    assert (
        sorted(p.name for p in tmp_path.iterdir()) == ["book.parquet", "home"]
        or not Path(out).exists()
    )
