"""The scoring API as deployed: a uvicorn process serving the production alias of a real MLflow
server, reloading on promotion (poll, admin call, MLflow webhook), refusing broken versions and
surviving MLflow outages."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

ApiProcess = Any
Registry = Any

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


def test_scoring_auth_validation_and_model_info(
    live: Any, registry: Registry, start_api: Callable[..., ApiProcess], application: dict[str, Any]
) -> None:
    api = start_api(registry.server.url)
    good = registry.versions["good"]
    assert api.wait_ready(version=good)["status"] == "ready"

    resp = api.post("/v1/score", json=application)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model_version"] == good and body["model_name"] == "credit-scoring"
    assert body["decision"] in {"approve", "review", "decline"}
    assert 1 <= len(body["reasons"]) <= 4
    assert body["request_id"] == resp.headers["x-request-id"]

    batch = api.post("/v1/score/batch", json={"applications": [application] * 3}).json()
    assert [r["probability"] for r in batch["results"]] == [body["probability"]] * 3

    assert api.post("/v1/score", key="wrong", json=application).status_code == 401
    assert httpx.post(api.url + "/v1/score", json=application).status_code == 401
    bad = {**application, "duration_in_month": -3, "purpose": "yacht"}
    resp = api.post("/v1/score", json=bad)
    assert resp.status_code == 422
    assert {tuple(e["loc"]) for e in resp.json()["detail"]} == {
        ("body", "duration_in_month"),
        ("body", "purpose"),
    }

    info = api.get("/v1/model").json()
    assert info["version"] == good and info["alias"] == "production" and info["run_id"]
    assert 0.5 < info["metrics"]["test_auc"] <= 1.0
    assert api.metric("credit_scoring_model_info{") == 1.0
    assert "it-scoring-key" not in api.logs() and live.admin_key not in api.logs()


def test_readiness_waits_for_the_alias(
    registry: Registry, start_api: Callable[..., ApiProcess], application: dict[str, Any]
) -> None:
    api = start_api(registry.server.url, CREDIT_SCORING_SERVE_ALIAS="canary-readiness")
    ready = httpx.get(api.url + "/readyz", timeout=5)
    assert ready.status_code == 503
    assert "models:/credit-scoring@canary-readiness" in ready.json()["detail"]
    # Once the registry has answered, the reason says the alias is missing.
    assert api.wait_metric("credit_scoring_registry_errors_total", 1) >= 1
    ready = httpx.get(api.url + "/readyz", timeout=5)
    assert ready.status_code == 503
    assert "cannot resolve models:/credit-scoring@canary-readiness" in ready.json()["detail"]
    assert api.post("/v1/score", json=application).status_code == 503
    registry.set_alias("canary-readiness", registry.versions["good"])
    api.wait_ready(timeout=60, version=registry.versions["good"])
    assert api.post("/v1/score", json=application).status_code == 200


def test_promotion_under_load_drops_nothing(
    registry: Registry, start_api: Callable[..., ApiProcess], application: dict[str, Any]
) -> None:
    from credit_scoring.registry.promotion import promote

    settings = registry.server.settings()
    alias = "production"
    old, new = registry.versions["good"], registry.versions["next"]
    registry.set_alias(alias, old)
    api = start_api(registry.server.url)
    api.wait_ready(version=old)

    stop_flag = threading.Event()
    seen: list[list[str]] = [[], []]
    failures: list[str] = []

    def load(slot: int) -> None:
        with httpx.Client(
            base_url=api.url, headers={"X-API-Key": "it-scoring-key"}, timeout=10
        ) as client:
            while not stop_flag.is_set():
                try:
                    r = client.post("/v1/score", json=application)
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                    continue
                seen[slot].append(r.json()["model_version"])

    threads = [threading.Thread(target=load, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()

    def wait_until(done: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {failures[:3]}"
            time.sleep(0.05)

    try:
        # Load on the old version first, then promote; then load on the new one.
        wait_until(
            lambda: all(s.count(old) > 10 for s in seen), "requests served by the old version"
        )
        promote(
            int(new), reason="integration: promotion under load", actor="pytest", settings=settings
        )
        wait_until(lambda: all(s.count(new) > 10 for s in seen), "requests served by the new one")
    finally:
        stop_flag.set()
        for t in threads:
            t.join(30)
        registry.set_alias(alias, old)

    assert failures == []
    for versions in seen:
        assert versions[0] == old and versions[-1] == new
        # Each connection switches exactly once: old ... old new ... new.
        switch = versions.index(new)
        assert set(versions[:switch]) == {old} and set(versions[switch:]) == {new}
    total = Counter(v for s in seen for v in s)
    assert total[old] > 10 and total[new] > 10
    assert api.metric('credit_scoring_model_reloads_total{outcome="swapped",trigger="poll"}') == 1


def test_broken_version_is_refused_and_old_one_keeps_serving(
    live: Any, registry: Registry, start_api: Callable[..., ApiProcess], application: dict[str, Any]
) -> None:
    good, broken = registry.versions["good"], registry.versions["broken"]
    api = start_api(
        registry.server.url,
        CREDIT_SCORING_SERVE_ALIAS="canary-broken",
        CREDIT_SCORING_RELOAD_INTERVAL_S="60",
    )
    registry.set_alias("canary-broken", good)
    resp = api.post("/v1/admin/reload", key=live.admin_key)
    assert resp.status_code == 200 and resp.json()["version"] == good
    api.wait_ready(version=good)
    registry.set_alias("canary-broken", broken)
    resp = api.post("/v1/admin/reload", key=live.admin_key)
    assert resp.status_code == 409
    assert f"refused version {broken}" in resp.json()["detail"]
    assert api.post("/v1/score", json=application).json()["model_version"] == good
    assert api.metric('credit_scoring_model_reloads_total{outcome="failed",trigger="admin"}') == 1
    assert api.post("/v1/admin/reload").status_code == 401  # scoring key is not the admin key


def test_mlflow_webhook_triggers_reload(
    live: Any, registry: Registry, start_api: Callable[..., ApiProcess]
) -> None:
    good, new = registry.versions["good"], registry.versions["next"]
    alias = "canary-webhook"
    registry.set_alias(alias, good)
    api = start_api(
        registry.server.url,
        CREDIT_SCORING_SERVE_ALIAS=alias,
        CREDIT_SCORING_RELOAD_INTERVAL_S="600",
    )
    api.wait_ready(version=good)
    mc = registry.client()
    hook = mc.create_webhook(
        name="credit-scoring-api",
        url=f"{api.url}/v1/webhooks/mlflow",
        events=["model_version_alias.created"],
        secret=live.webhook_secret,
    )
    try:
        registry.set_alias(alias, new)
        # The poll interval is 10 minutes: only the webhook can make this swap happen in time.
        api.wait_ready(timeout=60, version=new)
    finally:
        mc.delete_webhook(hook.webhook_id)
    assert api.metric('credit_scoring_model_reloads_total{outcome="swapped",trigger="poll"}') >= 1
    assert "mlflow webhook model_version_alias.created" in api.logs()


def test_mlflow_outage_keeps_serving_and_restart_uses_cache(
    live: Any,
    registry: Registry,
    mlflow_root: Path,
    start_api: Callable[..., ApiProcess],
    application: dict[str, Any],
) -> None:
    good = registry.versions["good"]
    registry.set_alias("production", good)
    # A second server over the same store, so that stopping it leaves the session's server up.
    second = live.start_mlflow(mlflow_root)
    api = start_api(second.url)
    api.wait_ready(version=good)
    home = api.home
    live.stop(second.proc)
    # Several polls fail while requests keep being answered by the loaded version.
    assert api.wait_metric("credit_scoring_registry_errors_total", 3) >= 3
    assert api.post("/v1/score", json=application).json()["model_version"] == good
    assert httpx.get(api.url + "/readyz", timeout=5).status_code == 200
    assert "still serving version" in api.logs()

    # A restart while MLflow is still down serves the cached last good version.
    live.stop(api.proc)
    restarted = start_api(second.url, home=home)
    restarted.wait_ready(timeout=90, version=good)
    info = restarted.get("/v1/model").json()
    assert info["source"] == "cache" and info["version"] == good
    assert restarted.post("/v1/score", json=application).status_code == 200


def test_decisions_reach_the_postgres_ledger_by_shutdown(
    live: Any,
    registry: Registry,
    start_api: Callable[..., ApiProcess],
    pg_database: str,
    application: dict[str, Any],
) -> None:
    import psycopg2  # type: ignore[import-untyped]

    registry.set_alias("production", registry.versions["good"])
    api = start_api(registry.server.url, CREDIT_SCORING_DATABASE_URL=pg_database)
    api.wait_ready()
    for i in range(20):
        r = api.post("/v1/score", json=application, headers={"X-Request-ID": f"pg-{i}"})
        assert r.status_code == 200
    api.post(
        "/v1/score/batch",
        json={"applications": [application] * 5},
        headers={"X-Request-ID": "pg-batch"},
    )
    # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status is -15.
    assert live.stop(api.proc) in (0, -15)
    assert "Application shutdown complete" in api.logs()
    assert "decision records all stored in the ledger" in api.logs()
    with psycopg2.connect(pg_database) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT decision_id, model_version, body::jsonb->'inputs'->>'purpose', decision, "
            "(body::jsonb->>'latency_ms')::float FROM decision_ledger ORDER BY seq"
        )
        rows = cur.fetchall()
    conn.close()
    assert len(rows) == 25
    assert {r[0] for r in rows} == {f"pg-{i}" for i in range(20)} | {
        f"pg-batch-{i}" for i in range(5)
    }
    assert all(r[1] == registry.versions["good"] and r[2] == application["purpose"] for r in rows)
    assert all(r[4] > 0 for r in rows)
    from credit_scoring.ledger.postgres import PostgresLedgerStore

    store = PostgresLedgerStore(pg_database)
    assert store.verify().ok
    store.close()
