"""End to end: decisions logged for synthetic applicants whose true PD is known, outcomes drawn
from that truth go in through ``credit-scoring outcomes``, and ``credit-scoring backtest`` is
green for calibrated PDs and red for deliberately mis-calibrated ones, with p-values equal to
scipy's and the report in MLflow (JSON, HTML, Prometheus text).

Three registered versions of one trained run, each logging 3000 decisions (2500 with outcomes):
v1 serves the trained model's PDs; v2 serves the generator's true PD (calibrated by
construction); v3 serves the true PD with its log-odds shifted by -1 (risk underestimated about
2.5x). v2 must be green and v3 red. v1 must not be red: the trained model underestimates the PD
a little in grade G (15-30%; observed ~1.2x the mean PD, Jeffreys p ~0.005 at 20k training rows),
which the backtest rightly shows amber. Under perfect calibration each grade is amber with
probability ~5%; the outcome draw is seeded, so the v2 assertion is deterministic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from scipy import stats

from credit_scoring.config import Settings
from credit_scoring.data.synthetic import generate, synthetic_schema
from credit_scoring.ledger import open_ledger
from credit_scoring.predictions.record import DecisionRecord, make_record
from credit_scoring.registry.gateway import RegistryGateway
from credit_scoring.scoring.model import CreditModel
from credit_scoring.training.pipeline import train

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLI = str(Path(sys.executable).parent / "credit-scoring")
DECIDED = datetime(2025, 1, 15, 10, tzinfo=UTC)
OBSERVED = date(2025, 12, 31)


def _append(settings: Settings, records: list[DecisionRecord]) -> None:
    """Store decisions as the API does: in the decision ledger."""
    store = open_ledger(settings)
    try:
        store.append(records)
    finally:
        store.close()


def _cli(home: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(CREDIT_SCORING_HOME=str(home), COLUMNS="200")
    proc = subprocess.run(
        [CLI, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == expect, f"{args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _log(settings: Settings, model: CreditModel, apps: pd.DataFrame, version: str) -> list[str]:
    records = apps[model.schema.feature_names].to_dict(orient="records")
    results = model.score(records, max_reasons=0)
    rows = [
        make_record(
            decision_id=f"v{version}-{i}",
            request_id=f"v{version}-{i}",
            model_name=settings.model_name,
            model_version=version,
            inputs={k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()},
            probability=res.probability,
            score=res.score,
            decision=res.decision,
            reasons=[],
            latency_ms=1.0,
            ts=DECIDED,
        )
        for i, (rec, res) in enumerate(zip(records, results, strict=True))
    ]
    _append(settings, rows)
    return [r["decision_id"] for r in rows]


def _log_pds(
    settings: Settings, model: CreditModel, apps: pd.DataFrame, pds: np.ndarray, version: str
) -> list[str]:
    rows = [
        make_record(
            decision_id=f"v{version}-{i}",
            request_id=f"v{version}-{i}",
            model_name=settings.model_name,
            model_version=version,
            inputs={k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()},
            probability=float(p),
            score=model.scaling.point(float(p)),
            decision=model.scaling.decision(float(p)),
            reasons=[],
            latency_ms=1.0,
            ts=DECIDED,
        )
        for i, (rec, p) in enumerate(
            zip(apps[model.schema.feature_names].to_dict(orient="records"), pds, strict=True)
        )
    ]
    _append(settings, rows)
    return [r["decision_id"] for r in rows]


def test_backtest_green_when_calibrated_red_when_not(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"cv_folds": 2})
    data = tmp_path / "train.parquet"
    generate(20000, seed=11).drop(columns=["true_pd"]).to_parquet(data)
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(synthetic_schema().to_json(), encoding="utf-8")
    result = train(data, schema_path=schema_file, settings=settings)
    registry = RegistryGateway.from_settings(settings)
    mv = registry.version(result.version)
    # Version 2: the same run, served with PDs deliberately too low (log-odds shifted by -1).
    mv2 = registry.client.create_model_version(settings.model_name, mv.source, run_id=mv.run_id)
    mv3 = registry.client.create_model_version(settings.model_name, mv.source, run_id=mv.run_id)
    model = CreditModel.from_dir(registry.download_model(result.version, tmp_path / "m1"))

    applicants = generate(9000, seed=12)
    truth = np.random.default_rng(5).uniform(size=len(applicants)) < applicants["true_pd"]
    true_pd = np.clip(applicants["true_pd"].to_numpy(), 1e-9, 1 - 1e-9)
    biased = 1 / (1 + np.exp(-(np.log(true_pd / (1 - true_pd)) - 1.0)))
    ids1 = _log(settings, model, applicants.iloc[:3000], str(result.version))
    ids2 = _log_pds(
        settings, model, applicants.iloc[3000:6000], true_pd[3000:6000], str(mv2.version)
    )
    ids3 = _log_pds(settings, model, applicants.iloc[6000:], biased[6000:], str(mv3.version))
    decided = ids1[:2500] + ids2[:2500] + ids3[:2500]  # the rest is still pending
    defaulted = np.r_[truth[:2500], truth[3000:5500], truth[6000:8500]].astype(int)
    outcomes = pd.DataFrame(
        {"decision_id": decided, "defaulted": defaulted, "observation_date": OBSERVED.isoformat()}
    )
    extra = pd.DataFrame(
        {
            "decision_id": [decided[0], "never-logged"],
            "defaulted": [0, 1],
            "observation_date": OBSERVED.isoformat(),
        }
    )
    file = tmp_path / "outcomes.csv"
    pd.concat([outcomes, extra]).to_csv(file, index=False)

    intake = json.loads(_cli(settings.home, "outcomes", "--data", str(file), "--json").stdout)
    assert (intake["received"], intake["recorded"], intake["rejected"]) == (7502, 7500, 2)
    assert intake["rejected_ids"]["duplicate"] == [decided[0]]
    assert intake["rejected_ids"]["unknown"] == ["never-logged"]

    window = f"{DECIDED.date()}..{DECIDED.date() + timedelta(days=1)}"

    def backtest(version: str, expect: int = 0) -> tuple[dict[str, Any], str]:
        proc = _cli(
            settings.home,
            "backtest",
            "--version",
            version,
            "--window",
            window,
            "--json",
            expect=expect,
        )
        return json.loads(proc.stdout), proc.stderr

    def summary(report: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [
            (g["grade"], g["n"], g["defaults"], round(g["mean_pd"], 4), round(g["jeffreys_p"], 4))
            for g in report["grades"]
            if g["n"]
        ]

    trained, _ = backtest(str(result.version))
    assert trained["status"] in ("green", "amber"), summary(trained)
    assert (trained["n_with_outcome"], trained["n_pending"]) == (2500, 500)
    good, _ = backtest(str(mv2.version))
    assert good["status"] == "green", (summary(good), good["hosmer_lemeshow"])
    bad, bad_err = backtest(str(mv3.version), expect=4)
    assert bad["status"] == "red"
    assert any(g["light"] == "red" for g in bad["grades"])
    assert "backtest red" in bad_err

    # The p-values are scipy's on the report's own counts.
    for g in trained["grades"] + good["grades"] + bad["grades"]:
        if g["n"]:
            n, d, p = g["n"], g["defaults"], g["mean_pd"]
            binom = stats.binom.sf(d - 1, n, p) if d else 1.0
            assert g["binomial_p"] == pytest.approx(binom, rel=1e-9)
            assert g["jeffreys_p"] == pytest.approx(stats.beta.cdf(p, d + 0.5, n - d + 0.5))

    # Realised AUC with an interval around it; the estimate from PDs close to it when calibrated.
    auc = good["realised"]["auc"]
    assert trained["realised"]["auc"]["estimate"] <= auc["upper"] + 0.05
    assert auc["lower"] < auc["estimate"] < auc["upper"]
    assert abs(good["estimated_on_realised"]["expected_auc"] - auc["estimate"]) < 0.05
    assert good["estimated_pending"]["n"] == 500

    client = registry.client
    run_id = bad["mlflow_run_id"]
    assert client.get_run(run_id).data.tags["backtest_status"] == "red"
    paths = {a.path for a in client.list_artifacts(run_id, "backtest")}
    assert {"backtest/report.json", "backtest/report.html", "backtest/metrics.prom"} <= paths
    prom = Path(client.download_artifacts(run_id, "backtest/metrics.prom", str(tmp_path)))
    families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    status = families["credit_scoring_backtest_status"].samples[0]
    assert status.value == 2 and status.labels["model_version"] == str(mv3.version)
