"""The DAGs run end to end with ``dag.test()`` against a real MLflow server.

One module-scoped story, in order: training registers a ``staging`` version; promotion moves it to
``production``; monitoring on an unshifted window of logged predictions reports no drift and does
not retrain; on a shifted window it reports drift and triggers the training DAG. A failing gate
fails the training run with the reasons.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

MODEL = "credit-scoring"


@pytest.fixture(scope="module")
def env(mlflow_server: str, dagbag: Any) -> dict[str, Any]:
    from mlflow import MlflowClient

    return {"client": MlflowClient(mlflow_server, mlflow_server), "dagbag": dagbag}


def _run(dagbag: Any, dag_id: str, conf: dict[str, Any] | None = None) -> Any:
    dag = dagbag.get_dag(dag_id)
    return dag.test(run_conf=conf or {})


def _task_states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def _dag_runs(dag_id: str) -> list[Any]:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == dag_id).all()
        session.expunge_all()
        return runs


def test_training_dag_registers_a_staging_version(env: dict[str, Any]) -> None:
    run = _run(env["dagbag"], "credit_scoring_training", {"reason": "test"})
    assert str(run.state) == "success", _task_states(run)
    mv = env["client"].get_model_version_by_alias(MODEL, "staging")
    assert mv.tags.get("validation_status") == "passed"
    assert "production" not in (mv.aliases or [])
    env["staging"] = int(mv.version)
    # Idempotent: the version carries the run's key, and a retried task (same key) gets the
    # same version back instead of registering another one.
    key = f"airflow-credit_scoring_training-{run.run_id}"
    assert mv.tags.get("idempotency_key") == key
    from credit_scoring.config import Settings
    from credit_scoring.training.pipeline import train

    again = train(settings=Settings(), idempotency_key=key)
    assert (again.version, again.reused) == (int(mv.version), True)
    assert len(env["client"].search_model_versions(f"name = '{MODEL}'")) == 1


def test_promotion_dag_moves_production(env: dict[str, Any]) -> None:
    staging = env["staging"]
    run = _run(
        env["dagbag"], "credit_scoring_promotion", {"reason": "test promotion", "actor": "ci"}
    )
    assert str(run.state) == "success", _task_states(run)
    assert _task_states(run)["rollout_restart"] == "skipped"
    mv = env["client"].get_model_version_by_alias(MODEL, "production")
    assert int(mv.version) == staging
    assert mv.tags.get("promoted_by") == "ci"


def _write_window(frame: pd.DataFrame, start: datetime, version: str) -> None:
    """Record ``frame`` (features + model outputs) the way the scoring API does (the ledger)."""
    from credit_scoring.config import Settings
    from credit_scoring.ledger import open_ledger

    features = [c for c in frame.columns if c not in {"probability", "score", "decision"}]
    records = []
    for i, rec in enumerate(frame.to_dict(orient="records")):
        inputs = {
            k: (v.item() if isinstance(v, np.generic) else v)
            for k, v in rec.items()
            if k in features
        }
        records.append(
            {
                "decision_id": uuid.uuid4().hex,
                "ts": start + timedelta(seconds=30 * i),
                "model_name": MODEL,
                "model_version": version,
                "inputs": inputs,
                "probability": float(rec["probability"]),
                "score": float(rec["score"]),
                "decision": str(rec["decision"]),
                "reasons": [],
                "latency_ms": 1.0,
            }
        )
    store = open_ledger(Settings())
    try:
        store.append(records)
    finally:
        store.close()


def _scored(sample: pd.DataFrame, tmp: Path) -> pd.DataFrame:
    """Score a sample of applicants with the real production model."""
    from credit_scoring.scoring.model import load_credit_model
    from credit_scoring.scoring.pyfunc import predict_frame

    model = load_credit_model(f"models:/{MODEL}@production", tmp)
    feats = sample.drop(columns=["probability", "score", "decision"], errors="ignore")
    out = predict_frame(model, feats.reset_index(drop=True))
    return pd.concat([feats.reset_index(drop=True), out], axis=1)


def _reference(env: dict[str, Any], tmp: Path) -> pd.DataFrame:
    mv = env["client"].get_model_version_by_alias(MODEL, "production")
    path = env["client"].download_artifacts(mv.run_id, "reference/reference.parquet", str(tmp))
    return pd.read_parquet(path)


def _monitor(
    env: dict[str, Any], start: datetime, end: datetime, **extra: Any
) -> tuple[Any, dict[str, Any]]:
    conf = {"window_start": start.isoformat(), "window_end": end.isoformat(), "source": "embedded"}
    conf.update(extra)
    run = _run(env["dagbag"], "credit_scoring_monitoring", conf)
    assert str(run.state) == "success", _task_states(run)
    exp = env["client"].get_experiment_by_name(f"{MODEL}-monitoring")
    # The drift run (the evidence branch logs backtest runs to the same experiment).
    latest = env["client"].search_runs(
        [exp.experiment_id],
        filter_string="tags.drift_status != ''",
        order_by=["attributes.start_time DESC"],
    )[0]
    report = json.loads(
        Path(env["client"].download_artifacts(latest.info.run_id, "drift/report.json")).read_text()
    )
    assert "drift/report.html" in {
        a.path for a in env["client"].list_artifacts(latest.info.run_id, "drift")
    }
    return run, report


def test_monitoring_unshifted_window_does_not_retrain(env: dict[str, Any], tmp_path: Path) -> None:
    reference = _reference(env, tmp_path)
    sample = reference.sample(400, replace=True, random_state=7)
    start = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    _write_window(_scored(sample, tmp_path / "model"), start, str(env["staging"]))
    before = len(_dag_runs("credit_scoring_training"))

    run, report = _monitor(env, start, start + timedelta(days=1))

    assert report["n_current"] == 400
    assert report["drift_detected"] is False, report["reasons"]
    assert report["score_psi"] < 0.10
    states = _task_states(run)
    assert states["trigger_training"] == "skipped" and states["no_retraining"] == "success"
    assert len(_dag_runs("credit_scoring_training")) == before


def test_monitoring_shifted_window_reports_drift_and_triggers_training(
    env: dict[str, Any], tmp_path: Path
) -> None:
    reference = _reference(env, tmp_path)
    # A population shift: riskier applicants (long, large loans) become far more common.
    risk = reference["probability"].to_numpy()
    sample = reference.sample(400, replace=True, weights=risk**3, random_state=11)
    start = datetime(2026, 3, 5, 0, 0, tzinfo=UTC)
    _write_window(_scored(sample, tmp_path / "model"), start, str(env["staging"]))
    before = len(_dag_runs("credit_scoring_training"))

    run, report = _monitor(
        env, start, start + timedelta(days=1), data_path="/data/applications-2026-03.parquet"
    )

    assert report["drift_detected"] is True
    assert report["score_psi"] >= 0.25
    assert any(r.startswith("score: PSI") for r in report["reasons"])
    states = _task_states(run)
    assert states["trigger_training"] == "success" and states["no_retraining"] == "skipped"
    triggered = _dag_runs("credit_scoring_training")
    assert len(triggered) == before + 1
    newest = max(triggered, key=lambda r: r.queued_at or r.start_date)
    assert newest.conf["reason"].startswith("drift:")
    assert newest.conf["model_name"] is None
    # The retraining run trains on the data location the monitoring run was given.
    assert newest.conf["data_path"] == "/data/applications-2026-03.parquet"
    assert newest.conf["schema_path"] is None


def test_monitoring_small_window_is_insufficient_data(env: dict[str, Any], tmp_path: Path) -> None:
    reference = _reference(env, tmp_path)
    start = datetime(2026, 3, 9, 0, 0, tzinfo=UTC)
    _write_window(_scored(reference.head(20), tmp_path / "model"), start, str(env["staging"]))
    run, report = _monitor(env, start, start + timedelta(days=1))
    assert report["status"] == "insufficient_data" and report["drift_detected"] is False
    assert "insufficient data" in report["message"]
    assert _task_states(run)["no_retraining"] == "success"


def _logged(version: str) -> pd.DataFrame:
    from credit_scoring.config import Settings
    from credit_scoring.monitoring.prediction_log import read_prediction_log

    frame = read_prediction_log(
        Settings(), datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC), "embedded"
    )
    return frame[frame["model_version"] == version].reset_index(drop=True)


def _record(ids: list[str], defaulted: np.ndarray, observed: datetime) -> None:
    from credit_scoring.config import Settings
    from credit_scoring.outcomes.intake import record_outcomes
    from credit_scoring.outcomes.store import Outcome

    outcomes = [Outcome(i, int(d), observed.date()) for i, d in zip(ids, defaulted, strict=True)]
    report = record_outcomes(Settings(), outcomes, source="test")
    assert report.recorded == len(ids), report.as_dict()


def _evidence_conf(start: str, end: str) -> dict[str, Any]:
    # Every param given: dag.test() keeps the previous run's values of the params it is not given.
    return {
        "evidence": True,
        "window_start": start,
        "window_end": end,
        "window_hours": None,
        "source": "embedded",
        "retrain": False,
        "model_name": None,
        "data_path": None,
        "target": None,
        "schema_path": None,
    }


def _evidence_run(env: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    conf = _evidence_conf("2026-03-31T00:00:00+00:00", "2026-04-01T00:00:00+00:00")
    run = _run(env["dagbag"], "credit_scoring_monitoring", conf)
    exp = env["client"].get_experiment_by_name(f"{MODEL}-monitoring")
    latest = env["client"].search_runs(
        [exp.experiment_id], "tags.kind = 'backtest'", order_by=["attributes.start_time DESC"]
    )[0]
    report = json.loads(
        Path(
            env["client"].download_artifacts(latest.info.run_id, "backtest/report.json")
        ).read_text()
    )
    return run, report


def test_monitoring_evidence_backtest_alerts_on_red(env: dict[str, Any]) -> None:
    version = str(env["staging"])  # production since the promotion test
    # Outcomes drawn from the served PDs themselves: calibrated by construction, no alert.
    logged = _logged(version)
    rng = np.random.default_rng(3)
    drawn = (rng.uniform(size=len(logged)) < logged["probability"].to_numpy()).astype(int)
    _record(logged["decision_id"].tolist(), drawn, datetime(2026, 3, 20, tzinfo=UTC))
    run, report = _evidence_run(env)
    states = _task_states(run)
    assert str(run.state) == "success", states
    assert states["backtest"] == "success" and states["evidence_alert"] == "success"
    assert states["compare_challenger"] == "skipped"  # staging == production: no challenger
    assert report["model_version"] == version and report["n_with_outcome"] == len(logged)
    assert report["status"] != "red", report["grades"]

    # A new month where the low-PD applicants all default: the backtest goes red, the alert fires.
    reference = env["client"].get_model_version_by_alias(MODEL, "production")
    assert str(reference.version) == version
    start = datetime(2026, 3, 21, 0, 0, tzinfo=UTC)
    before = set(_logged(version)["decision_id"])
    sample = logged.drop(columns=["decision_id", "ts", "model_name", "model_version"])
    _write_window(sample.head(300), start, version)
    fresh = _logged(version)
    fresh = fresh[~fresh["decision_id"].isin(before)]
    _record(
        fresh["decision_id"].tolist(), np.ones(len(fresh), int), datetime(2026, 3, 25, tzinfo=UTC)
    )
    run, report = _evidence_run(env)
    states = _task_states(run)
    assert str(run.state) == "failed"
    assert states["backtest"] == "success" and states["evidence_alert"] == "failed"
    assert report["status"] == "red" and any("backtest red" in a for a in report["alerts"])


def test_training_dag_fails_with_the_gate_reasons(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDIT_SCORING_GATE_MIN_AUC", "0.999")
    staging_before = env["client"].get_model_version_by_alias(MODEL, "staging").version
    run = _run(env["dagbag"], "credit_scoring_training", {"reason": "gate must fail"})
    states = _task_states(run)
    assert str(run.state) == "failed"
    assert states["validation_gate"] == "failed" and states["train_and_register"] == "success"
    # The new version exists but is tagged failed and staging did not move.
    assert env["client"].get_model_version_by_alias(MODEL, "staging").version == staging_before
    versions = env["client"].search_model_versions(f"name = '{MODEL}'")
    newest = max(versions, key=lambda v: int(v.version))
    assert newest.tags.get("validation_status") == "failed"
    assert "auc" in newest.tags.get("gate_failed_checks", "").lower()


def test_portfolio_dag_scores_the_month_with_production(
    env: dict[str, Any], tmp_path: Path
) -> None:
    from credit_scoring.data.io import load_german_credit

    book = load_german_credit()
    book.insert(0, "account", [f"ACC-{i:05d}" for i in range(len(book))])
    book.loc[3, "purpose"] = "yacht"
    month_dir = tmp_path / "books" / "month=2026-03"
    month_dir.mkdir(parents=True)
    book.to_csv(month_dir / "book.csv", index=False)
    out = tmp_path / "scores" / "month=2026-03" / "scores.parquet"
    conf = {
        "data": str(tmp_path / "books" / "month={month}"),
        "out": str(tmp_path / "scores" / "month={month}" / "scores.parquet"),
        "reasons": 2,
    }
    dag = env["dagbag"].get_dag("credit_scoring_portfolio")
    run = dag.test(run_conf=conf, logical_date=datetime(2026, 3, 1, tzinfo=UTC))
    assert str(run.state) == "success", _task_states(run)
    scored = pd.read_parquet(out)
    assert len(scored) == 999 and "ACC-00003" not in set(scored["account"])
    production = env["client"].get_model_version_by_alias(MODEL, "production").version
    assert set(scored["model_version"].astype(str)) == {str(production)}
    rejects = pd.read_csv(out.with_name("scores.rejects.csv"))
    assert rejects[["row", "column"]].values.tolist() == [[4, "purpose"]]


def _promotion_conf(**extra: Any) -> dict[str, Any]:
    # Every param given: dag.test() keeps the previous run's values of the params it is not given.
    conf: dict[str, Any] = {
        "version": None,
        "reason": "live evidence",
        "actor": "ci",
        "model_name": None,
        "restart_deployment": None,
        "compare": True,
        "compare_hours": 24,
        "challenger_alias": "staging",
    }
    conf.update(extra)
    return conf


def test_promotion_dag_compares_live_traffic_and_can_require_it(
    env: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second version trained to staging is shadowed on live traffic: the promotion DAG's
    ``compare_live`` reports the shadow pairs on it, and with the live requirement on the
    promotion is refused for too few pairs, then allowed under limits it meets."""
    from credit_scoring.config import Settings
    from credit_scoring.predictions.shadow import ShadowLogWriter
    from credit_scoring.scoring.model import load_credit_model
    from credit_scoring.scoring.pyfunc import predict_frame

    run = _run(env["dagbag"], "credit_scoring_training", {"reason": "challenger"})
    assert str(run.state) == "success", _task_states(run)
    client = env["client"]
    champion = int(client.get_model_version_by_alias(MODEL, "production").version)
    challenger = int(client.get_model_version_by_alias(MODEL, "staging").version)
    assert challenger != champion

    # Live traffic of the last two hours (one decision every 30 s: 100 minutes), served by
    # production (ledger), shadowed by staging.
    sample = _reference(env, tmp_path).head(200)
    served = _scored(sample, tmp_path / "champion")
    start = datetime.now(UTC) - timedelta(hours=2)
    _write_window(served, start, str(champion))
    frame = read_recent(str(champion), start)
    assert len(frame) == 200
    shadow_model = load_credit_model(f"models:/{MODEL}@staging", tmp_path / "challenger")
    shadowed = predict_frame(shadow_model, frame)  # extra columns are ignored
    writer = ShadowLogWriter(Settings())
    writer.write(
        [
            {
                "decision_id": str(row.decision_id),
                "ts": start + timedelta(minutes=1),
                "model_name": MODEL,
                "served_version": str(champion),
                "served_probability": float(row.probability),
                "served_decision": str(row.decision),
                "shadow_alias": "staging",
                "shadow_version": str(challenger),
                "shadow_probability": float(s.probability),
                "shadow_score": float(s.score),
                "shadow_decision": str(s.decision),
                "shadow_grade": str(s.grade),
            }
            for row, s in zip(frame.itertuples(), shadowed.itertuples(), strict=True)
        ]
    )
    writer.close()

    # The monitoring DAG's compare_challenger reports the same pairs (production vs staging).
    conf = _evidence_conf((start - timedelta(minutes=5)).isoformat(), datetime.now(UTC).isoformat())
    run = _run(env["dagbag"], "credit_scoring_monitoring", conf)
    states = _task_states(run)
    # (evidence_alert may fail: the backtest window still holds the red month of the test above)
    assert states["compare_challenger"] == "success" and states["backtest"] == "success", states
    compared = client.get_model_version(MODEL, str(challenger)).tags
    assert compared["live_compare_pairs"] == "200"

    monkeypatch.setenv("CREDIT_SCORING_GATE_REQUIRE_LIVE_COMPARE", "true")
    run = _run(env["dagbag"], "credit_scoring_promotion", _promotion_conf())
    states = _task_states(run)
    assert str(run.state) == "failed", states
    assert states["compare_live"] == "success" and states["promote_to_production"] == "failed"
    tags = client.get_model_version(MODEL, str(challenger)).tags
    assert tags["live_compare_pairs"] == "200"  # the report is on the challenger
    assert int(client.get_model_version_by_alias(MODEL, "production").version) == champion

    monkeypatch.setenv("CREDIT_SCORING_GATE_LIVE_MIN_PAIRS", "150")
    monkeypatch.setenv("CREDIT_SCORING_GATE_LIVE_MAX_FLIP_RATE", "1")
    monkeypatch.setenv("CREDIT_SCORING_GATE_MIN_FAIRNESS_RATIO", "0")
    run = _run(env["dagbag"], "credit_scoring_promotion", _promotion_conf())
    states = _task_states(run)
    assert str(run.state) == "success", states
    assert states["compare_live"] == "success" and states["promote_to_production"] == "success"
    assert int(client.get_model_version_by_alias(MODEL, "production").version) == challenger


def read_recent(version: str, start: datetime) -> pd.DataFrame:
    from credit_scoring.config import Settings
    from credit_scoring.monitoring.prediction_log import read_prediction_log

    frame = read_prediction_log(Settings(), start, datetime.now(UTC), "embedded")
    return frame[frame["model_version"] == version].reset_index(drop=True)
