"""Serving image against the full image: size, cold start (container start to /readyz 200) and
RSS / CPU under load, the figures behind the chart's HPA targets.

Baseline: the full image (``infra/docker/api/Dockerfile``, training stack included), measured in
the same run. Both images serve the same registered version from one ``mlflow server`` (SQLite,
127.0.0.1, started here with the project's venv, which also trains and promotes the version).
Containers run with ``--network host`` bound to 127.0.0.1 (nothing is published elsewhere),
as uid 10001 with a read-only root filesystem and a tmpfs home, like the chart's pods.

    docker build -f infra/docker/api/Dockerfile -t k8s-path-bench/api:dev .
    docker build -f infra/docker/api/serving.Dockerfile -t k8s-path-bench/serving:dev .
    .venv/bin/python benchmarks/serving_image.py [--requests 2000] [--starts 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
APPLICATION = json.loads((ROOT / "infra/docker/examples/application.json").read_text())
IMAGES = {
    "full image (baseline)": "k8s-path-bench/api:dev",
    "serving image": "k8s-path-bench/serving:dev",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str, timeout: float, status: int = 200) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if httpx.get(url, timeout=2).status_code == status:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(url)


def image_size_mb(image: str) -> float:
    out = subprocess.run(
        ["docker", "image", "inspect", image, "--format", "{{.Size}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip()) / 1e6


def container_stats(name: str) -> tuple[float, float]:
    """(RSS MB, CPU seconds) of the container's main process (PID 1)."""
    status = subprocess.run(
        ["docker", "exec", name, "cat", "/proc/1/status", "/proc/1/stat"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    stat = status.strip().splitlines()[-1].rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(stat[11]) + int(stat[12])) / ticks
    return rss_kb / 1024, cpu


def run_container(image: str, tracking_uri: str, port: int) -> tuple[str, float]:
    """Start the API container; return its name and the seconds from `docker run` to ready."""
    name = f"k8s-path-bench-{uuid.uuid4().hex[:8]}"
    start = time.monotonic()
    subprocess.run(
        [
            "docker", "run", "-d", "--rm", "--name", name, "--network", "host",
            "--read-only", "--tmpfs", "/tmp", "--tmpfs", "/var/lib/credit-scoring:uid=10001",
            "-e", f"MLFLOW_TRACKING_URI={tracking_uri}",
            "-e", "CREDIT_SCORING_API_KEYS=bench-key",
            "-e", "CREDIT_SCORING_SERVE_ALIAS=production",
            image, "credit-scoring", "serve", "--host", "127.0.0.1", "--port", str(port),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    try:
        wait(f"http://127.0.0.1:{port}/readyz", timeout=300)
    except TimeoutError:
        logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True).stdout
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
        raise SystemExit(f"{image} never became ready:\n{logs[-3000:]}") from None
    return name, time.monotonic() - start


def cold_starts(images: dict[str, str], tracking_uri: str, starts: int) -> dict[str, float]:
    """Median cold start per image, the images' starts interleaved (same load for both)."""
    times: dict[str, list[float]] = {label: [] for label in images}
    for _ in range(starts):
        for label, image in images.items():
            name, cold = run_container(image, tracking_uri, free_port())
            times[label].append(cold)
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    return {label: sorted(t)[len(t) // 2] for label, t in times.items()}


def under_load(image: str, tracking_uri: str, requests: int) -> dict[str, float]:
    port = free_port()
    name, _ = run_container(image, tracking_uri, port)
    try:
        idle_rss, cpu0 = container_stats(name)
        url = f"http://127.0.0.1:{port}/v1/score"
        with httpx.Client(headers={"X-API-Key": "bench-key"}, timeout=10) as client:
            t0 = time.monotonic()
            for _ in range(requests):
                assert client.post(url, json=APPLICATION).status_code == 200
            wall = time.monotonic() - t0
        loaded_rss, cpu1 = container_stats(name)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    return {
        "size_mb": image_size_mb(image),
        "idle_rss_mb": idle_rss,
        "loaded_rss_mb": loaded_rss,
        "cpu_ms_per_request": (cpu1 - cpu0) / requests * 1000,
        "rps_one_client": requests / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CREDIT_"))}
        server = subprocess.Popen(
            [
                str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp}/mlflow.db",
                "--artifacts-destination", f"{tmp}/artifacts",
            ],
            env={**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            stdout=(Path(tmp) / "mlflow.log").open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            uri = f"http://127.0.0.1:{port}"
            try:
                wait(f"{uri}/health", timeout=300)
            except TimeoutError:
                raise SystemExit((Path(tmp) / "mlflow.log").read_text()[-3000:]) from None
            cli_env = {
                **env,
                "MLFLOW_TRACKING_URI": uri,
                "CREDIT_SCORING_HOME": f"{tmp}/client",
                "CREDIT_SCORING_CV_FOLDS": "2",
                "CREDIT_SCORING_CV_REPEATS": "1",
            }
            for step in (["train"], ["validate"], ["promote", "--reason", "benchmark"]):
                subprocess.run(
                    [str(BIN / "credit-scoring"), *step], env=cli_env, check=True,
                    capture_output=True,
                )  # fmt: skip
            print(
                f"| image | size MB | cold start s (median of {args.starts}) | idle RSS MB | "
                f"RSS after {args.requests} requests MB | CPU ms/request | req/s, 1 client |"
            )
            print("|---|---|---|---|---|---|---|")
            colds = cold_starts(IMAGES, uri, args.starts)
            for label, image in IMAGES.items():
                m = under_load(image, uri, args.requests)
                print(
                    f"| {label} | {m['size_mb']:.0f} | {colds[label]:.1f} | {m['idle_rss_mb']:.0f}"
                    f" | {m['loaded_rss_mb']:.0f} | {m['cpu_ms_per_request']:.2f}"
                    f" | {m['rps_one_client']:.0f} |",
                    flush=True,
                )
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
