"""The local spool: decision records written to disk before the API answers.

Each process appends JSON lines to its own segment file ``seg-<writer>-<n>.jsonl`` in the spool
directory with one ``write(2)`` per request (``O_APPEND``), *before* the response is sent: a
record that was answered is in the kernel's page cache, so a crash or ``kill -9`` of the
process loses nothing. A flusher thread ``fsync``\\ s the segment every ``fsync_interval_s``
(group commit: the window in which a power loss of the host could lose answered records).

The writer holds ``flock(LOCK_EX)`` on its active segment while it lives; a segment nobody
holds belongs to a closed or dead writer and is shipped and deleted by any process's shipper
(:mod:`credit_scoring.ledger.shipper`). A segment is rotated at ``segment_bytes``.

Backpressure: when the unshipped spool exceeds ``max_bytes`` (the database is down for long)
or the disk refuses a write, ``policy`` decides: ``reject`` (default) raises :class:`SpoolFull`
and the API answers 503 without a decision (nothing is answered that is not recorded); ``drop``
answers anyway and counts and logs every record not kept (``lost``). Nothing is dropped
silently.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

logger = logging.getLogger(__name__)

Policy = Literal["reject", "drop"]
SEGMENT_GLOB = "seg-*.jsonl"


class SpoolFull(RuntimeError):
    """The spool cannot take a record (full or disk error) and the policy is ``reject``."""


@dataclass
class LedgerStats:
    """Counters of the spool and shipper of one process (exported as metrics by the API)."""

    written: int = 0
    shipped: int = 0
    duplicates: int = 0
    lost: int = 0
    rejected: int = 0
    ship_errors: int = 0
    spool_bytes: int = 0
    pending_records: int = 0
    lost_by_reason: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def add_lost(self, reason: str, n: int) -> None:
        with self._lock:
            self.lost += n
            self.lost_by_reason[reason] = self.lost_by_reason.get(reason, 0) + n


def _dumps(record: Mapping[str, Any]) -> bytes:
    return orjson.dumps(
        record, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_SERIALIZE_NUMPY
    )


class SpoolWriter:
    """Appends records to this process's active segment; a thread fsyncs in small batches."""

    def __init__(
        self,
        directory: Path,
        stats: LedgerStats,
        *,
        max_bytes: int = 1 << 30,
        segment_bytes: int = 8 << 20,
        fsync_interval_s: float = 0.05,
        policy: Policy = "reject",
    ) -> None:
        self.directory = directory
        self.stats = stats
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync_interval_s = fsync_interval_s
        self.policy = policy
        self.writer_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._segment_no = 0
        self._segment_size = 0
        self._dirty = False
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._last_loss_log = 0.0

    # --- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Create the directory and the first segment, start the fsync thread."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._rotate()
        self._stop.clear()
        self._flusher = threading.Thread(target=self._flush_loop, name="ledger-fsync", daemon=True)
        self._flusher.start()

    def close(self) -> None:
        """fsync and close the active segment (its records are then shippable by anyone)."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(5)
            self._flusher = None
        with self._lock:
            self._close_segment()

    @property
    def active_segment(self) -> Path:
        return self.directory / f"seg-{self.writer_id}-{self._segment_no:06d}.jsonl"

    # --- producer side -------------------------------------------------------------------------
    def append(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Write records (one ``write``) before answering; returns how many were kept.

        Raises :class:`SpoolFull` under the ``reject`` policy when they cannot be kept.
        """
        data = bytearray()
        n = 0
        for record in records:
            data += _dumps(record)
            data += b"\n"
            n += 1
        if not n:
            return 0
        reason = None
        if self.stats.spool_bytes + len(data) > self.max_bytes:
            reason = "spool_full"
        else:
            with self._lock:
                try:
                    if self._fd is None:
                        raise OSError(errno.EBADF, "spool is closed")
                    if self._segment_size >= self.segment_bytes:
                        self._rotate()
                    written = os.write(self._fd, data)
                    if written != len(data):  # a short write: disk full mid-way
                        raise OSError(errno.ENOSPC, "short write to the spool")
                    self._segment_size += written
                    self._dirty = True
                except OSError as exc:
                    reason = f"disk_error:{errno.errorcode.get(exc.errno or 0, 'EIO')}"
        if reason is None:
            with self.stats._lock:
                self.stats.written += n
                self.stats.spool_bytes += len(data)
                self.stats.pending_records += n
            return n
        if self.policy == "reject":
            self.stats.add("rejected", n)
            self._log_loss(f"spool refused {n} record(s) ({reason}): request rejected with 503")
            raise SpoolFull(reason)
        self.stats.add_lost(reason.split(":")[0], n)
        self._log_loss(f"LOST {n} decision record(s): spool {reason} (policy drop)")
        return 0

    # --- internals -----------------------------------------------------------------------------
    def _log_loss(self, message: str) -> None:
        now = time.monotonic()
        # One line per second at most under a flood, each carrying the running total.
        if now - self._last_loss_log >= 1.0:
            self._last_loss_log = now
            logger.error(
                "%s; totals: lost %d, rejected %d", message, self.stats.lost, self.stats.rejected
            )

    def _rotate(self) -> None:
        self._close_segment()
        self._segment_no += 1
        path = self.active_segment
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        fcntl.flock(fd, fcntl.LOCK_EX)  # "a live writer owns this segment"
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new file's name survives a power loss too
        finally:
            os.close(dir_fd)
        self._fd = fd
        self._segment_size = os.fstat(fd).st_size

    def _close_segment(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)  # releases the flock
                self._fd = None
                self._dirty = False

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.fsync_interval_s):
            self.flush()

    def flush(self) -> None:
        """fsync what was written since the last flush (outside the writers' lock)."""
        with self._lock:
            if not self._dirty or self._fd is None:
                return
            fd = os.dup(self._fd)
            self._dirty = False
        try:
            os.fsync(fd)
        except OSError:
            logger.exception("fsync of the ledger spool failed")
        finally:
            os.close(fd)
