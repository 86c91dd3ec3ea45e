"""Object storage for real: the platform MLflow with its artifacts in an S3 bucket.

A real S3 API server (moto's, ``moto_server`` from PyPI) stands in for the bucket; the MLflow
server runs through the MLflow image's entrypoint with the arguments and env of the rendered
platform Deployment (``values-platform.yaml`` with ``mlflow.artifacts.s3EndpointUrl`` pointed at
the S3 server), on a fresh PostgreSQL database. Only the server holds the S3 credentials, as in
the cluster: the CLI trains, validates and promotes, and the scoring API serves the production
version, all through MLflow's artifact proxy. Checked too: an unusable bucket stops MLflow at
start (exit 3, the reason in its log) instead of a green ``/health``; MLflow's ``/metrics``
answers a pod-IP ``Host`` (how Prometheus scrapes); the running API exports every metric the
chart's alert rules and Grafana dashboard name, the live score PSI once enough applications are
scored, equal to the ``score_psi`` of ``credit-scoring monitor`` over the same decisions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers.servers import free_port, stop, wait_http

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "helm"))
from chart_helpers import REPO_ROOT, env_values, one, pod_spec, render_objects
from observability_helpers import missing_from_exposition
from prometheus_client.parser import text_string_to_metric_families

from credit_scoring.config import Settings
from credit_scoring.data.io import german_credit_schema, load_german_credit
from credit_scoring.monitoring.run import run_monitoring

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent
ENTRYPOINT = REPO_ROOT / "infra" / "docker" / "mlflow" / "entrypoint.py"
APPLICATION = REPO_ROOT / "infra" / "docker" / "examples" / "application.json"
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
BUCKET = "credit-scoring-mlflow-artifacts"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "CREDIT_SCORING_", "AWS_"))
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3 API server on a free port, with the artifact bucket created."""
    import boto3

    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_clean_env(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url, timeout=60, proc=proc)
        s3 = boto3.client("s3", endpoint_url=url, **_boto_credentials())
        s3.create_bucket(Bucket=BUCKET)
        yield url
    finally:
        stop(proc)
        log.close()


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    }


def _platform_mlflow(s3_url: str) -> dict[str, Any]:
    values = env_values("platform")
    values["mlflow"]["artifacts"]["s3EndpointUrl"] = s3_url
    # Artifacts are this test's subject; registry access control (basic auth) runs against a
    # real server in tests/integration/core/test_registry_access.py and in tests/k8s.
    values["mlflow"]["auth"]["enabled"] = False
    deployment = one(render_objects("platform", values), "Deployment", "mlflow")
    container = pod_spec(deployment)["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    return {"args": container["args"], "env": env}


def _server_argv(
    args: list[str], port: int, tmp_path: Path, destination: str | None = None
) -> list[str]:
    argv = []
    for arg in args:
        if arg.startswith("--port="):
            arg = f"--port={port}"
        elif arg.startswith("--host="):
            arg = "--host=127.0.0.1"
        elif arg.startswith("--workers="):
            arg = "--workers=1"
        elif arg.startswith("--expose-prometheus="):
            arg = f"--expose-prometheus={tmp_path / 'prometheus'}"
        elif arg.startswith("--artifacts-destination=") and destination:
            arg = f"--artifacts-destination={destination}"
        argv.append(arg)
    return [sys.executable, str(ENTRYPOINT), *argv]


def _server_env(pod_env: dict[str, str], tmp_path: Path, backend_uri: str) -> dict[str, str]:
    uri_file = tmp_path / "backend-store-uri"
    uri_file.write_text(backend_uri + "\n", encoding="utf-8")
    env = _clean_env(**pod_env, **S3_CREDENTIALS)
    env.update(
        MLFLOW_BACKEND_STORE_URI_FILE=str(uri_file),
        HOME=str(tmp_path),
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
    )
    return env


def test_unusable_bucket_stops_mlflow_at_start(s3_server: str, tmp_path: Path) -> None:
    platform = _platform_mlflow(s3_server)
    argv = _server_argv(platform["args"], free_port(), tmp_path, "s3://no-such-bucket/registry")
    env = _server_env(platform["env"], tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 3, done.stderr[-3000:]
    assert "artifact store 's3://no-such-bucket/registry' is not usable" in done.stderr
    assert "NoSuchBucket" in done.stderr
    assert "starting mlflow server" not in done.stderr


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(BIN / "credit-scoring"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def _gauges(exposition: str) -> dict[tuple[str, str], float]:
    """(sample name, model_version label or "") -> value of a /metrics text."""
    return {
        (s.name, s.labels.get("model_version", "")): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
        if not s.labels.keys() - {"model_version"}
    }


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"API exited with {proc.returncode}"
        try:
            answer = httpx.get(f"{url}/readyz", timeout=3)
            if answer.status_code == 200:
                body: dict[str, Any] = answer.json()
                return body
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url}/readyz not 200 within {timeout}s")


@pytest.mark.timeout(1500)  # trains, validates, promotes and serves through a real MLflow
def test_train_register_promote_serve_with_artifacts_in_a_bucket(
    s3_server: str, pg_url: str, tmp_path: Path
) -> None:
    import boto3

    platform = _platform_mlflow(s3_server)
    assert platform["env"]["MLFLOW_S3_ENDPOINT_URL"] == s3_server
    port = free_port()
    argv = _server_argv(platform["args"], port, tmp_path, f"s3://{BUCKET}/registry")
    server_log = (tmp_path / "mlflow.log").open("wb")
    server = subprocess.Popen(
        argv,
        env=_server_env(platform["env"], tmp_path, pg_url),
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    api: subprocess.Popen[bytes] | None = None
    try:
        mlflow_url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{mlflow_url}/health", timeout=400, proc=server)
        except (TimeoutError, RuntimeError) as exc:
            pytest.fail(f"{exc}\n{(tmp_path / 'mlflow.log').read_text()[-3000:]}")
        startup = (tmp_path / "mlflow.log").read_text()
        assert f"artifact store 's3://{BUCKET}/registry' is usable" in startup

        # The clients hold no S3 credentials: everything goes through MLflow's artifact proxy.
        client_env = _clean_env(
            MLFLOW_TRACKING_URI=mlflow_url,
            CREDIT_SCORING_HOME=str(tmp_path / "client"),
            CREDIT_SCORING_CV_FOLDS="2",
            CREDIT_SCORING_CV_REPEATS="1",
            CREDIT_SCORING_DEMO_DATA="true",
            MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
        )
        trained = json.loads(_cli(client_env, "train", "--json").stdout)
        version = str(trained["version"])
        _cli(client_env, "validate", "--version", version)
        _cli(client_env, "promote", "--version", version, "--reason", "s3 test", "--by", "pytest")

        s3 = boto3.client("s3", endpoint_url=s3_server, **_boto_credentials())
        keys = [
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=BUCKET, Prefix="registry/"
            )
            for o in page.get("Contents", [])
        ]
        assert any(k.endswith("/MLmodel") for k in keys), keys[:20]
        assert any("validation/report.json" in k for k in keys), keys[:20]
        assert not any(".mlflow-startup-check" in k for k in keys)  # the probe is cleaned up

        api_port = free_port()
        api_log = (tmp_path / "api.log").open("wb")
        api = subprocess.Popen(
            [
                str(BIN / "credit-scoring"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(api_port),
            ],
            env=_clean_env(
                MLFLOW_TRACKING_URI=mlflow_url,
                CREDIT_SCORING_HOME=str(tmp_path / "api"),
                CREDIT_SCORING_API_KEYS="k1",
                CREDIT_SCORING_SERVE_ALIAS="production",
            ),
            stdout=api_log,
            stderr=subprocess.STDOUT,
        )
        api_url = f"http://127.0.0.1:{api_port}"
        ready = _wait_ready(api_url, api, timeout=180)
        assert str(ready["model_version"]) == version
        scored = httpx.post(
            f"{api_url}/v1/score",
            headers={"X-API-Key": "k1"},
            json=json.loads(APPLICATION.read_text()),
            timeout=30,
        )
        assert scored.status_code == 200, scored.text
        assert scored.json()["model_version"] == version

        # Enough applications for the score PSI gauge (CREDIT_SCORING_API_SCORE_PSI_MIN_SCORES,
        # default 200): the demo data's first 250 rows, in one batch.
        frame = load_german_credit()
        applications = [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in frame[german_credit_schema().feature_names].head(250).to_dict("records")
        ]
        batch = httpx.post(
            f"{api_url}/v1/score/batch",
            headers={"X-API-Key": "k1"},
            json={"applications": applications},
            timeout=60,
        )
        assert batch.status_code == 200, batch.text

        # Every metric the chart's alerts and dashboard use is exported by the running API.
        exposition = httpx.get(f"{api_url}/metrics", timeout=10).text
        assert missing_from_exposition(exposition) == []
        gauges = _gauges(exposition)
        assert gauges[("credit_scoring_score_psi_window_scores", version)] == 251
        live_psi = gauges[("credit_scoring_score_psi", version)]

        # Drift monitoring over the same 251 decisions (once shipped to the embedded ledger)
        # computes the same score PSI: one implementation, one binning.
        deadline = time.monotonic() + 60
        while _gauges(httpx.get(f"{api_url}/metrics", timeout=10).text)[
            ("credit_scoring_ledger_pending_records", "")
        ]:
            assert time.monotonic() < deadline, "decision records not shipped to the ledger"
            time.sleep(0.2)
        # In-process (what `credit-scoring monitor --no-log` runs): a CLI start costs minutes of
        # this test's budget on a loaded machine.
        report = run_monitoring(
            Settings(home=tmp_path / "api", tracking_uri=mlflow_url),
            source="embedded",
            log_to_mlflow=False,
        )
        assert report.n_current == 251
        assert report.score_psi is not None
        assert live_psi == pytest.approx(report.score_psi, abs=1e-6)  # the report rounds

        # MLflow's /metrics answers Prometheus, which sends the pod IP as Host.
        metrics = httpx.get(f"{mlflow_url}/metrics", headers={"Host": "10.1.2.3:5000"}, timeout=10)
        assert metrics.status_code == 200, metrics.text[:300]
        assert "mlflow_http_request_total" in metrics.text
    finally:
        if api is not None:
            stop(api)
        stop(server)
        server_log.close()
