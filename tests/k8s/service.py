"""The test's stand-in for a Service: a small round-robin HTTP front on 127.0.0.1.

Like kube-proxy it spreads *connections* over the Ready endpoints only and never retries a
request: every backend request opens a new connection, chosen at that moment among the pods
that are Ready and not terminating. An error from the pod (or a refused connection) is the
caller's error, as it would be behind a real Service.
"""

from __future__ import annotations

import http.client
import itertools
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Endpoints = Callable[[], list[tuple[str, int]]]

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "trailer"}


class RoundRobinFront:
    """``with RoundRobinFront(endpoints) as front: httpx.post(front.url + "/v1/score")``."""

    def __init__(self, endpoints: Endpoints, timeout: float = 30) -> None:
        self.endpoints = endpoints
        self.timeout = timeout
        self._counter = itertools.count()
        self.errors: list[str] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                eps = front.endpoints()
                if not eps:
                    self._reply(503, b'{"detail": "no ready endpoints"}')
                    return
                host, port = eps[next(front._counter) % len(eps)]
                conn = http.client.HTTPConnection(host, port, timeout=front.timeout)
                try:
                    headers = {
                        k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP
                    }
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    extra = [
                        (k, v)
                        for k, v in resp.getheaders()
                        if k.lower() not in _HOP_BY_HOP | {"content-length", "date", "server"}
                    ]
                    self._reply(resp.status, data, extra)
                except OSError as exc:
                    front.errors.append(f"{host}:{port}: {exc!r}")
                    self._reply(502, f'{{"detail": "backend {port}: {exc!r}"}}'.encode())
                finally:
                    conn.close()

            def _reply(
                self, status: int, data: bytes, headers: list[tuple[str, str]] | None = None
            ) -> None:
                self.send_response(status)
                for k, v in headers or [("Content-Type", "application/json")]:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _forward
            do_POST = _forward

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RoundRobinFront:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
