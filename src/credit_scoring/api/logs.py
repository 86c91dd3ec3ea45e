"""Structured JSON logging for the scoring API, with the request id of the current request.

Every log line is one JSON object (``ts``, ``level``, ``logger``, ``msg``, ``request_id`` and any
``extra`` fields). The request id travels in a context variable so that log lines written
anywhere while a request is handled carry it. API keys are never passed to the logger.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import sys
import threading
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_random_bits = random.getrandbits
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")

# Attributes of every LogRecord; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


def new_request_id(incoming: str | None = None) -> str:
    """The caller's ``X-Request-ID`` when it is short and safe, else a fresh
    :func:`time_ordered_id`."""
    if incoming and _SAFE_REQUEST_ID.match(incoming):
        return incoming
    return time_ordered_id()


def time_ordered_id() -> str:
    """A UUID version 7 (RFC 9562: 48 bits of Unix milliseconds, then 74 random bits) as 32 hex
    digits, like ``uuid4().hex``.

    Request ids become decision ids, the keys of the ledger's unique and lookup indexes: ids that
    grow with time are appended at the right edge of those B-trees, where random ones land on a
    random page each (measured on the embedded ledger holding 300,000 decisions: 58 us of
    shipper CPU per record with random ids, 25 us with these; ``benchmarks/README.md``). Random
    bits come from ``random``, not ``os.urandom``, which releases the GIL on every request (ids
    must be unique, not unpredictable).
    """
    rand = _random_bits(74)
    value = (
        (time.time_ns() // 1_000_000) << 80
        | 0x7 << 76  # version
        | (rand >> 62) << 64  # rand_a: 12 bits
        | 0b10 << 62  # variant
        | rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b: 62 bits
    )
    return f"{value:032x}"


class JsonFormatter(logging.Formatter):
    """Format records as single-line JSON objects."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid is not None:
            payload["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


class BufferedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """A stream handler that flushes every ``interval_s`` instead of after every line.

    Flushing stderr per access line costs a system call on the request path; a daemon thread
    flushes instead, and :func:`logging.shutdown` (at exit) flushes what is left. Errors and
    warnings are flushed at once.
    """

    def __init__(self, stream: Any = None, interval_s: float = 0.5) -> None:
        super().__init__(stream)
        self._interval = interval_s
        self._stop_flushing = (
            threading.Event()
        )  # not `_closed`: logging.Handler.close() sets that to True
        threading.Thread(target=self._flusher, name="log-flush", daemon=True).start()

    def _flusher(self) -> None:
        while not self._stop_flushing.wait(self._interval):
            self.flush_now()

    def flush_now(self) -> None:
        """Flush the stream (the per-record flush is skipped)."""
        with contextlib.suppress(Exception):
            super().flush()

    def flush(self) -> None:
        # Called by StreamHandler.emit after every record: skipped on purpose.
        return None

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if record.levelno >= logging.WARNING:
            self.flush_now()

    def close(self) -> None:
        self._stop_flushing.set()
        self.flush_now()
        super().close()


def configure_logging(level: str = "INFO") -> None:
    """Send the root, uvicorn and credit_scoring loggers to stderr as JSON lines."""
    root = logging.getLogger()
    for existing in root.handlers:
        if isinstance(existing, BufferedStreamHandler):
            existing.close()
    handler = BufferedStreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [
        h
        for h in root.handlers
        # Keep handlers someone else attached on purpose (e.g. pytest's log capture).
        if type(h) not in (logging.StreamHandler, BufferedStreamHandler)
    ] + [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # The API writes its own access line (with request id, status and latency).
    logging.getLogger("uvicorn.access").disabled = True
