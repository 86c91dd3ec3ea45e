"""The shadow challenger: scored after the response, logged beside it, never returned, and a
broken shadow never affects serving. Real tiny models behind directory-backed sources."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from credit_scoring.api.app import create_app
from credit_scoring.api.schemas import ScoreResponse, example_application
from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.predictions.shadow import COLUMNS, FILE_PATTERN, log_dir
from credit_scoring.scoring.model import CreditModel

KEY = {"X-API-Key": "key-one"}


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _metrics(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def _shadow_rows(settings: Settings) -> list[dict[str, Any]]:
    rows = []
    for path in log_dir(settings).glob(FILE_PATTERN):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line]
    return rows


def _client(settings: Settings, make_source: Callable[..., Any], shadow_version: str) -> Any:
    app = create_app(
        settings,
        source_factory=lambda: make_source("1"),
        shadow_source_factory=lambda: make_source(shadow_version),
    )
    return TestClient(app)


def test_shadow_pairs_logged_never_returned(
    settings_factory: Callable[..., Settings],
    make_source: Callable[..., Any],
    model_dirs: dict[str, Path],
    schema: FeatureSchema,
    german: Any,
) -> None:
    settings = settings_factory(shadow_alias="staging", max_batch_size=10, max_body_bytes=20_000)
    challenger = CreditModel.from_dir(model_dirs["2"])
    rows = german[schema.feature_names].head(8).to_dict(orient="records")
    with _client(settings, make_source, "2") as client:
        _wait(lambda: client.get("/readyz").status_code == 200, "readiness")
        _wait(
            lambda: (
                _metrics(client).get(
                    (
                        "credit_scoring_shadow_model_info",
                        (
                            ("alias", "production"),
                            ("name", "credit-scoring"),
                            ("run_id", "run-2"),
                            ("source", "registry"),
                            ("version", "2"),
                        ),
                    )
                )
                == 1
            ),
            "the shadow version",
        )
        one = client.post("/v1/score", json=rows[0], headers={**KEY, "X-Request-ID": "solo"})
        assert one.status_code == 200
        body = ScoreResponse.model_validate_json(one.content)
        assert body.model_version == "1"
        # application_key is answered only when the application carried one
        assert set(one.json()) == set(ScoreResponse.model_fields) - {"application_key"}
        batch = client.post(
            "/v1/score/batch", json={"applications": rows[1:]}, headers={**KEY, "X-Request-ID": "b"}
        )
        assert batch.status_code == 200 and batch.json()["model_version"] == "1"
        _wait(lambda: len(_shadow_rows(settings)) == 8, "8 shadow rows")
        metrics = _metrics(client)

    pairs = {r["decision_id"]: r for r in _shadow_rows(settings)}
    assert set(pairs) == {"solo", *(f"b-{i}" for i in range(7))}
    assert all(tuple(r) == COLUMNS for r in pairs.values())
    expected = challenger.score(rows, max_reasons=0)
    served = [body.probability] + [r["probability"] for r in batch.json()["results"]]
    for rid, exp, srv in zip(
        ["solo", *(f"b-{i}" for i in range(7))], expected, served, strict=True
    ):
        pair = pairs[rid]
        assert (pair["served_version"], pair["shadow_version"]) == ("1", "2")
        assert pair["shadow_probability"] == pytest.approx(exp.probability, abs=1e-12)
        assert pair["shadow_decision"] == exp.decision and pair["shadow_grade"] == exp.grade
        assert pair["served_probability"] == pytest.approx(srv, abs=1e-12)
    agree = sum(p["served_decision"] == p["shadow_decision"] for p in pairs.values())
    assert metrics[("credit_scoring_shadow_agreement_total", (("outcome", "agree"),))] == agree
    assert (
        metrics.get(("credit_scoring_shadow_agreement_total", (("outcome", "disagree"),)), 0)
        == 8 - agree
    )
    shadow_decisions = sum(
        v for (name, _), v in metrics.items() if name == "credit_scoring_shadow_decisions_total"
    )
    assert shadow_decisions == 8


def test_broken_shadow_never_affects_serving(
    settings_factory: Callable[..., Settings],
    make_source: Callable[..., Any],
    schema: FeatureSchema,
) -> None:
    settings = settings_factory(shadow_alias="staging")
    with _client(settings, make_source, "broken") as client:
        _wait(lambda: client.get("/readyz").status_code == 200, "readiness")
        _wait(
            lambda: (
                _metrics(client).get(
                    (
                        "credit_scoring_shadow_model_reloads_total",
                        (("outcome", "failed"), ("trigger", "startup")),
                    ),
                    0,
                )
                >= 1
            ),
            "the refused shadow version",
        )
        for _ in range(5):
            resp = client.post("/v1/score", json=example_application(schema), headers=KEY)
            assert resp.status_code == 200 and resp.json()["model_version"] == "1"
        _wait(
            lambda: (
                _metrics(client).get(
                    ("credit_scoring_shadow_errors_total", (("stage", "no_model"),)), 0
                )
                == 5
            ),
            "the shadow to skip 5 applications",
        )
        metrics = _metrics(client)
    assert _shadow_rows(settings) == []
    # The served model's own reload metrics know nothing of the shadow's failure.
    assert not any(
        name == "credit_scoring_model_reloads_total" and dict(labels).get("outcome") == "failed"
        for name, labels in metrics
    )


def test_sampled_fraction_zero_scores_nothing(
    settings_factory: Callable[..., Settings],
    make_source: Callable[..., Any],
    schema: FeatureSchema,
) -> None:
    settings = settings_factory(shadow_alias="staging", shadow_fraction=0.0)
    with _client(settings, make_source, "2") as client:
        _wait(lambda: client.get("/readyz").status_code == 200, "readiness")
        for _ in range(5):
            assert client.post(
                "/v1/score", json=example_application(schema), headers=KEY
            ).is_success
    assert _shadow_rows(settings) == []
