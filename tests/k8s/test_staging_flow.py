"""The deployment guide's flow on the *rendered* staging release, pods run by the stand-in kubelet.

In order: in-chart PostgreSQL -> MLflow migration Job -> MLflow -> API replicas (started, not
Ready: no model) -> training Job (train + validation gate: alias ``staging``) -> API Ready on
``@staging`` -> the ``helm test`` pod passes -> a second version reaches ``staging`` -> every
replica reloads it live (the version in its answers). The steps share one release and run in
file order; each asserts what the guide promises at that point.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from chart_helpers import render_objects

from k8s.deployment import Deployment
from k8s.kubelet import Kubelet, Manifest, Release, running_kubelet

pytestmark = [pytest.mark.k8s, pytest.mark.slow, pytest.mark.timeout(1200)]

RELEASE, NAMESPACE = "credit-scoring-staging", "staging-mlops"
APPLICATION = json.loads(
    (
        __import__("pathlib").Path(__file__).resolve().parents[2]
        / "infra/docker/examples/application.json"
    ).read_text()
)


@dataclass
class Staging:
    kubelet: Kubelet
    release: Release
    credentials: dict[str, str]
    api: Deployment | None = None
    timings: dict[str, float] | None = None

    @property
    def api_key(self) -> str:
        return self.credentials["api-keys"].split(",")[0]


def training_job(release: Release) -> tuple[Manifest, bool]:
    """The chart's training Job (or CronJob); else a one-off Job from the API's pod template
    running ``credit-scoring train`` then ``validate`` (False: the chart has none)."""
    for kind in ("Job", "CronJob"):
        for obj in release.of_kind(kind):
            component = obj["metadata"].get("labels", {}).get("app.kubernetes.io/component", "")
            if "train" in component:
                return obj, "pods-harness/made" not in obj["metadata"].get("annotations", {})
    api = release.get("Deployment", "api-deployment")
    template = copy.deepcopy(api["spec"]["template"])
    spec = template["spec"]
    spec["restartPolicy"] = "Never"
    for key in ("terminationGracePeriodSeconds",):
        spec.pop(key, None)
    container = spec["containers"][0]
    for key in ("startupProbe", "readinessProbe", "livenessProbe", "ports", "lifecycle"):
        container.pop(key, None)
    container["name"] = "train"
    template["metadata"]["labels"]["app.kubernetes.io/component"] = "training-harness"
    container["command"] = ["sh", "-c", "credit-scoring train && credit-scoring validate"]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{RELEASE}-train-harness",
            "labels": template["metadata"]["labels"],
            "annotations": {"pods-harness/made": "true"},
        },
        "spec": {"backoffLimit": 0, "template": template},
    }
    release.objects.append(job)
    return job, False


@pytest.fixture(scope="module")
def staging(
    images: dict[str, str], prefix: str, credentials: dict[str, str], report: list[str]
) -> Iterator[Staging]:
    creds = {
        **credentials,
        "mlflow-backend-store-uri": (
            f"postgresql://mlflow:{credentials['postgres-password']}"
            f"@{RELEASE}-postgresql:5432/mlflow"
        ),
    }
    release = Release(RELEASE, NAMESPACE, render_objects("staging"))
    with running_kubelet(
        prefix=f"{prefix}s", images=images, secrets={"credit-scoring-secrets": creds}
    ) as kubelet:
        kubelet.add_release(release)
        state = Staging(kubelet, release, creds, timings={})
        try:
            yield state
        finally:
            report.append("== staging release (values-staging.yaml) ==")
            report.append(kubelet.table())
            report.append(kubelet.unhonoured_report())
            if state.timings:
                report.append(
                    "step timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in state.timings.items())
                )
            failed = [p for p in kubelet.pods if not p.ready]
            for pod in failed:
                report.append(kubelet.describe(pod))


def _timed(staging: Staging, step: str, t0: float) -> None:
    assert staging.timings is not None
    staging.timings[step] = time.monotonic() - t0


def _readyz(pod_url: str) -> tuple[int, dict[str, Any]]:
    r = httpx.get(pod_url, timeout=5)
    return r.status_code, r.json()


def test_postgresql_then_migration_job_then_mlflow(staging: Staging) -> None:
    t0 = time.monotonic()
    k, rel = staging.kubelet, staging.release
    pg = Deployment(k, rel.get("StatefulSet", f"{RELEASE}-postgresql"))
    pg.scale_up()
    pg.wait_ready(120)
    _timed(staging, "postgresql", t0)

    t0 = time.monotonic()
    migration = k.run_to_completion(rel.get("Job", f"{RELEASE}-mlflow-db-upgrade"), timeout=300)
    assert migration.succeeded, migration.logs
    _timed(staging, "migration job", t0)

    t0 = time.monotonic()
    mlflow = Deployment(k, rel.get("Deployment", f"{RELEASE}-mlflow"))
    mlflow.scale_up()
    mlflow.wait_ready(240)
    _timed(staging, "mlflow", t0)


def test_api_replicas_start_but_are_not_ready_without_a_model(staging: Staging) -> None:
    t0 = time.monotonic()
    api = Deployment(staging.kubelet, staging.release.get("Deployment", "api-deployment"))
    staging.api = api
    pods = api.scale_up()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        c = [p.containers[0] for p in pods]
        if all(x.started and x.stats["readiness"].failed >= 1 for x in c):
            break
        assert not any(p.finished.is_set() for p in pods), pods[0].logs()
        time.sleep(0.5)
    else:
        pytest.fail("API never passed its startup probe: " + staging.kubelet.describe(pods[0]))
    for pod in pods:
        assert not pod.ready
        status, body = _readyz(pod.url(8000, "/readyz"))
        assert status == 503, body
        assert body["status"] == "not_ready"
        assert api.endpoints(8000) == []
    _timed(staging, "api started (not Ready)", t0)


def test_training_job_registers_a_version_that_passes_the_gate(staging: Staging) -> None:
    t0 = time.monotonic()
    job, from_chart = training_job(staging.release)
    if not from_chart:
        staging.kubelet._note(
            "(chart)", "training Job", "chart renders none: harness Job from the API pod template"
        )
    result = staging.kubelet.run_to_completion(job, timeout=600)
    assert result.succeeded, result.logs
    assert "Passed" in result.logs and "alias 'staging'" in result.logs, result.logs
    _timed(staging, "training job", t0)


def test_api_becomes_ready_on_staging_and_scores(staging: Staging) -> None:
    t0 = time.monotonic()
    assert staging.api is not None
    staging.api.wait_ready(120)
    for pod in staging.api.live():
        status, body = _readyz(pod.url(8000, "/readyz"))
        assert (status, body["model_version"]) == (200, "1"), body
        r = httpx.post(
            pod.url(8000, "/v1/score"),
            json=APPLICATION,
            headers={"X-API-Key": staging.api_key},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert r.headers["X-Model-Version"] == "1"
        assert 0 <= r.json()["probability"] <= 1
        unauth = httpx.post(pod.url(8000, "/v1/score"), json=APPLICATION, timeout=10)
        assert unauth.status_code == 401
    _timed(staging, "api Ready on @staging", t0)


def test_helm_test_pod_passes(staging: Staging) -> None:
    pod = staging.release.component("Pod", "test")
    result = staging.kubelet.run_to_completion(pod, timeout=120)
    assert result.succeeded, result.logs
    assert " 200 " in result.logs


def test_second_version_is_reloaded_live_on_every_replica(staging: Staging) -> None:
    t0 = time.monotonic()
    assert staging.api is not None
    job, _ = training_job(staging.release)
    result = staging.kubelet.run_to_completion(job, timeout=600)
    assert result.succeeded, result.logs
    before = {p.name: p.containers[0].restarts for p in staging.api.live()}
    interval = float(
        staging.release.get("ConfigMap", f"{RELEASE}-api")["data"][
            "CREDIT_SCORING_RELOAD_INTERVAL_S"
        ]
    )
    deadline = time.monotonic() + interval * 3 + 30
    pending = {p.name: p for p in staging.api.live()}
    while pending and time.monotonic() < deadline:
        for name, pod in list(pending.items()):
            r = httpx.post(
                pod.url(8000, "/v1/score"),
                json=APPLICATION,
                headers={"X-API-Key": staging.api_key},
                timeout=10,
            )
            assert r.status_code == 200, r.text
            if r.headers["X-Model-Version"] == "2":
                del pending[name]
        time.sleep(1)
    assert not pending, f"still on version 1 after {interval * 3 + 30:.0f} s: {sorted(pending)}"
    after = {p.name: p.containers[0].restarts for p in staging.api.live()}
    assert after == before, "a replica restarted instead of reloading live"
    _timed(staging, "live reload of v2", t0)
