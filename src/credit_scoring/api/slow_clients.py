"""Slow clients are cut off: a header timeout in the HTTP protocol, a body timeout in ASGI.

Without them a client that opens a connection and sends its headers or its body slowly (or
never) holds a connection and a request task forever (slowloris); 300 half-sent bodies were
still open after 62 s before this module.

* **Headers**: :func:`protocol_class` returns uvicorn's httptools protocol with a timer armed
  when a connection opens (and when a next request begins on a kept-alive connection) and
  disarmed when the request's headers are complete. On expiry it answers ``408`` with
  ``Connection: close`` and closes the connection.
* **Body**: :class:`BodyTimeoutMiddleware` gives the whole body ``timeout_s`` from the first
  ``receive`` (kept by one sweeper timer per event loop, so to within a tick of at most 1 s);
  past it, ``receive`` raises :class:`BodyReadTimeout`, which the app turns into a ``408``
  with ``Connection: close`` (see ``api`` exception handlers).

Both call ``on_slow_client(phase)`` (``"headers"``/``"body"``) so the API counts them in
``credit_scoring_slow_clients_total``.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import TimerHandle, Transport
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)

#: Key of the lifespan state under which the app puts its ``on_slow_client(phase)`` callback.
STATE_KEY = "on_slow_client"
#: Header timeout of :data:`HeaderTimeoutProtocol` (``uvicorn --http`` cannot pass arguments).
DEFAULT_HEADER_TIMEOUT_S = 10.0


class BodyReadTimeout(Exception):
    """The request body did not arrive within the body timeout."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"request body not received within {timeout_s:g} s")
        self.timeout_s = timeout_s


class _Sweeper:
    """The receives of one event loop still waiting for body bytes, and the one timer that cuts
    off those past their deadline.

    A timer per receive cost more than the rest of the body read on the scoring path, where the
    body almost always came with the headers and ``receive`` returns without waiting; here a
    receive only registers its task, and the timer runs once per ``tick`` while any receive is
    registered (the price: a body is cut off between ``timeout_s`` and ``timeout_s + tick``).
    """

    __slots__ = ("expired", "handle", "loop", "tick", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop, tick: float) -> None:
        self.loop = loop
        self.tick = tick
        self.waiting: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self.handle: TimerHandle | None = None

    def watch(self, task: asyncio.Task[Any], deadline: float) -> None:
        self.waiting[task] = deadline
        if self.handle is None:
            self.handle = self.loop.call_later(self.tick, self.sweep)

    def sweep(self) -> None:
        self.handle = None
        now = self.loop.time()
        for task, deadline in list(self.waiting.items()):
            if deadline <= now:
                del self.waiting[task]
                self.expired.add(task)
                task.cancel()
        if self.waiting:
            self.handle = self.loop.call_later(self.tick, self.sweep)


class BodyTimeoutMiddleware:
    """Pure ASGI middleware: bound the time to receive a request's body (see :class:`_Sweeper`
    for how the deadline is kept; one sweeper per event loop the app runs on)."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self._tick = min(1.0, max(timeout_s / 10, 0.005))
        self._sweepers: dict[asyncio.AbstractEventLoop, _Sweeper] = {}

    def _sweeper(self, loop: asyncio.AbstractEventLoop) -> _Sweeper:
        sweeper = self._sweepers.get(loop)
        if sweeper is None:
            for old in [other for other in self._sweepers if other.is_closed()]:
                del self._sweepers[old]
            sweeper = self._sweepers[loop] = _Sweeper(loop, self._tick)
        return sweeper

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline: float | None = None
        done = False
        timeout_s = self.timeout_s

        async def timed_receive() -> Message:
            nonlocal deadline, done
            if done:  # body complete: later receives wait for a disconnect, unbounded
                return await receive()
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + timeout_s
            task = asyncio.current_task()
            assert task is not None
            sweeper = self._sweeper(loop)
            sweeper.watch(task, deadline)
            try:
                message = await receive()
            except asyncio.CancelledError:
                if task in sweeper.expired and task.uncancel() == 0:  # ours, not a shutdown's
                    raise BodyReadTimeout(timeout_s) from None
                raise
            finally:
                sweeper.waiting.pop(task, None)
                sweeper.expired.discard(task)
            if message["type"] != "http.request" or not message.get("more_body", False):
                done = True
            return message

        await self.app(scope, timed_receive, send)


def protocol_class(header_timeout_s: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a header timeout (pass as ``uvicorn.Config(http=)``)."""

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_timer: TimerHandle | None = None

        def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._header_timer is None:  # the next request of a kept-alive connection
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(header_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if self.transport.is_closing():
                return
            callback: Callable[[str], Any] | None = self.app_state.get(STATE_KEY)
            if callback is not None:
                callback("headers")
            logger.warning(
                "closed a connection whose request headers were not complete within %g s",
                header_timeout_s,
                extra={"client": self.client[0] if self.client else None},
            )
            body = b"request headers not received in time"
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: "
                + str(len(body)).encode()
                + b"\r\nconnection: close\r\n\r\n"
                + body
            )
            self.transport.close()

    return HeaderTimeoutProtocol


#: For ``uvicorn --http credit_scoring.api.slow_clients:HeaderTimeoutProtocol``;
#: ``credit-scoring serve`` uses ``CREDIT_SCORING_API_HEADER_TIMEOUT_S`` instead.
HeaderTimeoutProtocol = protocol_class(DEFAULT_HEADER_TIMEOUT_S)
