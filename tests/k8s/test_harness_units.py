"""The harness's own translations, without Docker: quantities, rollout arithmetic, ``$(VAR)``
expansion, and the round-robin front (against real local HTTP servers)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from k8s.kubelet import _expand, _selector_matches, quantity_bytes, quantity_cpu, scaled
from k8s.service import RoundRobinFront

pytestmark = pytest.mark.k8s


@pytest.mark.parametrize(
    ("text", "expected"),
    [("768Mi", 768 * 2**20), ("1Gi", 2**30), ("1G", 10**9), ("512", 512), ("1.5Gi", 3 * 2**29)],
)
def test_memory_quantities(text: str, expected: int) -> None:
    assert quantity_bytes(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [("500m", 0.5), ("2", 2.0), (1, 1.0), ("250m", 0.25)]
)
def test_cpu_quantities(text: str | int, expected: float) -> None:
    assert quantity_cpu(text) == expected


def test_rollout_percentages_round_like_the_deployment_controller() -> None:
    # maxSurge rounds up, maxUnavailable down (3 replicas, 25%: surge 1, unavailable 0).
    assert scaled("25%", 3, round_up=True) == 1
    assert scaled("25%", 3, round_up=False) == 0
    assert scaled(2, 3, round_up=True) == 2


def test_dollar_paren_expansion() -> None:
    env = {"A": "x", "JOB_NAME": "train-1"}
    assert _expand("k8s-$(JOB_NAME)", env) == "k8s-train-1"
    assert _expand("$$(A) $(MISSING)", env) == "$(A) $(MISSING)"


def test_selector_needs_every_label() -> None:
    labels = {"app": "x", "component": "api"}
    assert _selector_matches({"app": "x"}, labels)
    assert not _selector_matches({"app": "x", "component": "mlflow"}, labels)
    assert not _selector_matches({}, labels)


class _Named(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = str(self.server.server_address[1]).encode()  # type: ignore[index]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture()
def backends() -> Iterator[list[ThreadingHTTPServer]]:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Named) for _ in range(3)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    yield servers
    for s in servers:
        s.shutdown()
        s.server_close()


def test_front_spreads_over_ready_endpoints_only(backends: list[ThreadingHTTPServer]) -> None:
    ready = [("127.0.0.1", s.server_address[1]) for s in backends]
    with RoundRobinFront(lambda: list(ready)) as front:
        seen = {httpx.post(front.url + "/v1/score", content=b"{}").text for _ in range(6)}
        assert seen == {str(port) for _, port in ready}
        ready.pop(0)  # a pod leaves the endpoints (not Ready, or terminating)
        seen = {httpx.post(front.url + "/v1/score", content=b"{}").text for _ in range(6)}
        assert seen == {str(port) for _, port in ready}
        ready.clear()
        assert httpx.post(front.url + "/v1/score", content=b"{}").status_code == 503
