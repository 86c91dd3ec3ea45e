"""The live score PSI gauge: the window, its scrape-time PSI equal to drift monitoring's, one
window per served version, absent without a reference, kept across a restart from the cache."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from credit_scoring.api.app import create_app
from credit_scoring.api.score_psi import ScoreWindow
from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.evaluation.psi import window_bins
from credit_scoring.monitoring.statistics import DriftThresholds, compute_drift, numeric_psi
from credit_scoring.registry.gateway import REFERENCE_FILE

pytestmark = pytest.mark.unit

KEY = {"X-API-Key": "key-one"}
ADMIN = {"X-API-Key": "admin-key"}
PSI = "credit_scoring_score_psi"
COUNT = "credit_scoring_score_psi_window_scores"


def _samples(client: TestClient, name: str) -> dict[str, float]:
    """model_version -> value of one gauge family at /metrics."""
    text = client.get("/metrics").text
    return {
        s.labels["model_version"]: s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == name
    }


def _poll(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _applications(frame: pd.DataFrame, schema: FeatureSchema) -> list[dict[str, Any]]:
    rows = frame[schema.feature_names].to_dict(orient="records")
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in rows]


def _score(client: TestClient, applications: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for i in range(0, len(applications), 100):
        resp = client.post(
            "/v1/score/batch", json={"applications": applications[i : i + 100]}, headers=KEY
        )
        assert resp.status_code == 200, resp.text
        results += resp.json()["results"]
    return results


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(
        reload_interval_s=60,
        max_batch_size=100,
        max_body_bytes=200_000,
        api_score_psi_window=300,
        api_score_psi_min_scores=50,
    )


@pytest.fixture
def source(make_source: Callable[..., Any]) -> Any:
    return make_source("1")


@pytest.fixture
def client(settings: Settings, source: Any) -> Iterator[TestClient]:
    with TestClient(create_app(settings, source_factory=lambda: source)) as c:
        _poll(lambda: c.get("/readyz").status_code == 200, "the model")
        yield c


def test_window_keeps_the_last_scores_and_needs_the_minimum() -> None:
    rng = np.random.default_rng(5)
    reference = rng.normal(600, 40, 1000)
    window = ScoreWindow(reference, size=100, min_scores=40)
    scores = rng.normal(630, 40, 250)
    for s in scores[:39]:
        window.add(float(s))
    assert window.psi() is None
    window.add(float(scores[39]))
    expected, _ = numeric_psi(pd.Series(reference), pd.Series(scores[:40]), window_bins(40))
    assert window.psi() == expected
    for s in scores[40:]:
        window.add(float(s))
    assert window.seen == 250
    assert sorted(window.scores()) == sorted(scores[-100:])
    expected, _ = numeric_psi(pd.Series(reference), pd.Series(scores[-100:]), window_bins(100))
    assert window.psi() == expected


@pytest.mark.parametrize(
    ("reference", "size", "min_scores", "message"),
    [([float("nan")], 10, 5, "no finite score"), ([1.0, 2.0], 10, 11, "min_scores")],
)
def test_window_refuses_an_unusable_reference_or_minimum(
    reference: list[float], size: int, min_scores: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ScoreWindow(reference, size, min_scores)


def test_min_scores_above_the_window_is_a_settings_error(
    settings_factory: Callable[..., Settings],
) -> None:
    with pytest.raises(ValueError, match=r"api_score_psi_min_scores \(200\) must not exceed"):
        settings_factory(api_score_psi_window=100)


def test_gauge_equals_drift_monitorings_score_psi(
    client: TestClient,
    settings: Settings,
    model_dirs: dict[str, Path],
    schema: FeatureSchema,
    german: pd.DataFrame,
) -> None:
    assert _samples(client, COUNT) == {"1": 0.0}
    assert _samples(client, PSI) == {}
    _score(client, _applications(german.iloc[700:749], schema))
    assert _samples(client, COUNT) == {"1": 49.0}
    assert _samples(client, PSI) == {}  # one below the minimum
    # A shifted population (the largest credits) fills the window; the first 49 scores leave it.
    drifted = german.sort_values("credit_amount", ascending=False).head(300)
    results = _score(client, _applications(drifted, schema))
    assert _samples(client, COUNT) == {"1": 300.0}
    gauge = _samples(client, PSI)["1"]

    reference = pd.read_parquet(model_dirs["1"] / REFERENCE_FILE)
    current = drifted[schema.feature_names].reset_index(drop=True)
    current["score"] = [r["score"] for r in results]
    current["decision"] = [r["decision"] for r in results]
    report = compute_drift(
        reference,
        current,
        schema,
        DriftThresholds.from_settings(settings),
        window_start=datetime(2026, 1, 1, tzinfo=UTC),
        window_end=datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert report.score_psi is not None and report.score_psi > 0.25  # a real shift
    assert gauge == pytest.approx(report.score_psi, abs=1e-6)  # the report rounds to 6 places
    exact, _ = numeric_psi(reference["score"], current["score"], window_bins(300))
    assert gauge == exact


def test_a_new_version_gets_its_own_window_and_none_without_a_reference(
    client: TestClient, source: Any, schema: FeatureSchema, german: pd.DataFrame
) -> None:
    _score(client, _applications(german.head(60), schema))
    assert set(_samples(client, PSI)) == {"1"}
    source.alias_version = "2"
    reloaded = client.post("/v1/admin/reload", headers=ADMIN)
    assert reloaded.json()["version"] == "2", reloaded.text
    # Version 2's run has no drift reference: no gauge at all, and version 1's series are gone.
    _score(client, _applications(german.head(60), schema))
    assert _samples(client, PSI) == {}
    assert _samples(client, COUNT) == {}
    source.alias_version = "1"
    assert client.post("/v1/admin/reload", headers=ADMIN).json()["version"] == "1"
    assert _samples(client, COUNT) == {"1": 0.0}  # back on 1: a fresh window


def test_the_reference_is_cached_with_the_version(
    client: TestClient, settings: Settings, make_source: Callable[..., Any]
) -> None:
    client.__exit__(None, None, None)
    down = make_source("1")
    down.reachable = False  # restart while MLflow is down: the cached version serves
    with TestClient(create_app(settings, source_factory=lambda: down)) as c:
        _poll(lambda: c.get("/readyz").status_code == 200, "the cached model")
        assert c.get("/v1/model", headers=KEY).json()["source"] == "cache"
        assert _samples(c, COUNT) == {"1": 0.0}
