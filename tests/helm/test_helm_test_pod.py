"""The ``helm test`` pod's script, run for real against a local HTTP server on 127.0.0.1.

The script is taken verbatim from the rendered Pod; only the service URL is pointed at the local
server, so what `helm test` does in a cluster is what is exercised here.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from chart_helpers import one, render_objects

pytestmark = pytest.mark.helm


class _ReadyzHandler(BaseHTTPRequestHandler):
    status = 200
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        body = b'{"status": "ready"}' if self.status == 200 else b'{"status": "no model"}'
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture()
def server() -> Iterator[ThreadingHTTPServer]:
    _ReadyzHandler.paths = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ReadyzHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _script(port: int) -> str:
    objects = render_objects("prod")
    pod = one(objects, "Pod", "test")
    service = one(objects, "Service", "api")
    command = pod["spec"]["containers"][0]["command"]
    assert command[:2] == ["python", "-c"]
    in_cluster = f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    script: str = command[2]
    assert in_cluster in script
    return script.replace(in_cluster, f"http://127.0.0.1:{port}")


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(("status", "expected_rc"), [(200, 0), (503, 1)])
def test_helm_test_passes_only_when_the_api_is_ready(
    server: ThreadingHTTPServer, status: int, expected_rc: int
) -> None:
    _ReadyzHandler.status = status
    result = _run(_script(server.server_address[1]))
    assert result.returncode == expected_rc, result.stdout + result.stderr
    assert _ReadyzHandler.paths == ["/readyz"]


def test_helm_test_fails_when_the_api_is_unreachable(
    server: ThreadingHTTPServer,
) -> None:
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    result = _run(_script(port))
    assert result.returncode == 1
    assert "not ready" in result.stdout
