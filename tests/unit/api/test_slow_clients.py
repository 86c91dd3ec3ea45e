"""Slow clients are cut off by a real uvicorn server: header timeout, body timeout, counted."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from helpers.servers import free_port

from credit_scoring.api.slow_clients import (
    STATE_KEY,
    BodyReadTimeout,
    BodyTimeoutMiddleware,
    protocol_class,
)

pytestmark = pytest.mark.unit

HEADER_S, BODY_S = 0.6, 0.6


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[int, Counter[str]]]:
    counts: Counter[str] = Counter()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        yield {STATE_KEY: lambda phase: counts.update([phase])}

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=BODY_S)

    @app.exception_handler(BodyReadTimeout)
    async def body_timeout(request: Request, exc: BodyReadTimeout) -> JSONResponse:
        request.state.on_slow_client("body")
        return JSONResponse({"detail": str(exc)}, 408, headers={"Connection": "close"})

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=protocol_class(HEADER_S), log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield port, counts
    srv.should_exit = True
    thread.join(10)


def exchange(port: int, data: bytes, wait: float = 5.0) -> tuple[bytes, float]:
    """Send ``data``, then read until the server closes; returns (reply, seconds to close)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(wait)
    t0 = time.monotonic()
    sock.sendall(data)
    reply = b""
    try:
        while chunk := sock.recv(4096):
            reply += chunk
    finally:
        sock.close()
    return reply, time.monotonic() - t0


def test_complete_requests_are_served_on_a_kept_alive_connection(
    server: tuple[int, Counter[str]],
) -> None:
    port, _ = server
    request = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(5)
    for _ in range(2):
        sock.sendall(request)
        assert b'{"bytes":3}' in sock.recv(4096)
        time.sleep(HEADER_S * 1.5)  # idle between requests is keep-alive, not a header timeout
    sock.close()


def test_half_sent_headers_get_408_and_are_counted(server: tuple[int, Counter[str]]) -> None:
    port, counts = server
    before = counts["headers"]
    reply, took = exchange(port, b"POST /echo HTTP/1.1\r\nHost: t\r\n")
    assert reply.startswith(b"HTTP/1.1 408")
    assert HEADER_S * 0.9 <= took < HEADER_S + 2
    silent, _ = exchange(port, b"")
    assert silent.startswith(b"HTTP/1.1 408")
    assert counts["headers"] == before + 2


def test_half_sent_body_gets_408_and_is_counted(server: tuple[int, Counter[str]]) -> None:
    port, counts = server
    before = counts["body"]
    reply, took = exchange(
        port, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123"
    )
    assert reply.startswith(b"HTTP/1.1 408")
    assert b"request body not received within 0.6 s" in reply
    assert took < BODY_S + 2
    assert counts["body"] == before + 1


def test_many_stalled_bodies_are_all_closed_in_time(server: tuple[int, Counter[str]]) -> None:
    port, _ = server
    socks = []
    for _ in range(100):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\nxx")
        socks.append(s)
    deadline = time.monotonic() + BODY_S + 5
    closed = 0
    for s in socks:
        s.settimeout(max(deadline - time.monotonic(), 0.01))
        data = b""
        try:
            while chunk := s.recv(4096):
                data += chunk
            closed += data.startswith(b"HTTP/1.1 408")
        except TimeoutError:
            pass
        s.close()
    assert closed == 100


def _stalled_body_app(results: list[Any]) -> BodyTimeoutMiddleware:
    """The middleware around an app that reads one message of a body that never comes."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            results.append(await receive())
        except BaseException as exc:
            results.append(type(exc))
            raise

    return BodyTimeoutMiddleware(app, timeout_s=0.2)


def test_body_timer_raises_only_for_its_own_expiry() -> None:
    """The timer's cancellation becomes BodyReadTimeout; a cancellation from elsewhere (server
    shutdown) stays a cancellation; a body that arrives in time disarms the timer."""
    import asyncio

    async def never() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def at_once() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def scenario() -> None:
        results: list[Any] = []
        with pytest.raises(BodyReadTimeout):
            await _stalled_body_app(results)({"type": "http"}, never, None)
        assert results == [BodyReadTimeout]

        results.clear()
        task = asyncio.ensure_future(_stalled_body_app(results)({"type": "http"}, never, None))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert results == [asyncio.CancelledError]

        results.clear()
        await _stalled_body_app(results)({"type": "http"}, at_once, None)
        await asyncio.sleep(0.3)  # past the deadline: a timer left armed would cancel us here
        assert results == [{"type": "http.request", "body": b"{}", "more_body": False}]
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    asyncio.run(scenario())


def test_one_middleware_keeps_its_deadline_on_every_event_loop() -> None:
    """The sweeper is per event loop: an app served on one loop, then on another (a test client
    after a server, say), still cuts stalled bodies off on the second, and leaves no timer armed
    once nothing waits."""
    import asyncio

    results: list[Any] = []
    middleware = _stalled_body_app(results)

    async def never() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def stalled() -> float:
        t0 = time.monotonic()
        with pytest.raises(BodyReadTimeout):
            await middleware({"type": "http"}, never, None)
        took = time.monotonic() - t0
        deadline = time.monotonic() + 2
        while any(s.handle is not None for s in middleware._sweepers.values()):
            assert time.monotonic() < deadline, "the sweeper kept its timer with nothing waiting"
            await asyncio.sleep(0.01)
        return took

    for _ in range(2):
        took = asyncio.run(stalled())
        assert 0.2 <= took < 0.2 + 0.1 + 0.5  # timeout, at most one tick (0.02 s) late, slack
    assert results == [BodyReadTimeout, BodyReadTimeout]
    assert len(middleware._sweepers) == 1  # the closed loop's sweeper was dropped
