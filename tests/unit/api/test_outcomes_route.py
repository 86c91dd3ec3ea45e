"""POST /v1/outcomes: admin key, every item recorded or rejected with a reason, 422 naming the
field; joined to decisions the API itself logged."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

from credit_scoring.api.app import create_app
from credit_scoring.api.schemas import example_application
from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.ledger import open_ledger

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


def test_outcomes_endpoint(
    settings_factory: Callable[..., Settings],
    make_source: Callable[..., Any],
    schema: FeatureSchema,
) -> None:
    settings = settings_factory()
    app = create_app(settings, source_factory=lambda: make_source("1"))
    with TestClient(app) as client:
        deadline = time.monotonic() + 20
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        for rid in ("app-1", "app-2", "app-3"):
            headers = {"X-API-Key": "key-one", "X-Request-ID": rid}
            application = {**example_application(schema), "application_key": f"key-{rid}"}
            assert client.post("/v1/score", json=application, headers=headers).is_success

        def logged() -> int:  # shipped from the spool to the decision ledger
            store = open_ledger(settings)
            try:
                return store.count()
            finally:
                store.close()

        while logged() < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        today = time.strftime("%Y-%m-%d", time.gmtime())
        body = {
            "outcomes": [
                {"decision_id": "app-1", "defaulted": 1, "observation_date": today},
                {"decision_id": "app-1", "defaulted": 0, "observation_date": today},
                {"decision_id": "nobody", "defaulted": 0, "observation_date": today},
                {"decision_id": "app-2", "defaulted": 0, "observation_date": "2000-01-01"},
            ]
        }
        assert (
            client.post("/v1/outcomes", json=body, headers={"X-API-Key": "key-one"}).status_code
            == 401
        )
        resp = client.post("/v1/outcomes", json=body, headers={"X-API-Key": "admin-key"})
        assert resp.status_code == 200, resp.text
        out = resp.json()
        assert (out["received"], out["recorded"], out["rejected"]) == (4, 1, 3)
        assert out["rejected_ids"] == {
            "duplicate": ["app-1"],
            "unknown": ["nobody"],
            "before_decision": ["app-2"],
            "late": [],
        }
        keyed = {
            "outcomes": [
                {"application_key": "key-app-3", "defaulted": 1, "observation_date": today},
                {"application_key": "key-app-1", "defaulted": 0, "observation_date": today},
            ]
        }
        resp = client.post("/v1/outcomes", json=keyed, headers={"X-API-Key": "admin-key"})
        assert resp.status_code == 200, resp.text
        out = resp.json()
        assert (out["recorded"], out["rejected_ids"]["duplicate"]) == (1, ["key-app-1"])
        for item, loc in (
            ({"defaulted": 0, "observation_date": today}, ["body", "outcomes", 0]),
            (
                {
                    "decision_id": "a",
                    "application_key": "b",
                    "defaulted": 0,
                    "observation_date": today,
                },
                ["body", "outcomes", 0],
            ),
        ):
            resp = client.post(
                "/v1/outcomes", json={"outcomes": [item]}, headers={"X-API-Key": "admin-key"}
            )
            assert resp.status_code == 422
            assert resp.json()["detail"][0]["loc"] == loc
            assert "exactly one of decision_id and application_key" in resp.text
        bad = {"outcomes": [{"decision_id": "app-2", "defaulted": 2, "observation_date": today}]}
        resp = client.post("/v1/outcomes", json=bad, headers={"X-API-Key": "admin-key"})
        assert resp.status_code == 422
        assert resp.json()["detail"][0]["loc"] == ["body", "outcomes", 0, "defaulted"]
