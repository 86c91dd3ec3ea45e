"""The local spool: decision records written to disk before the API answers.

Each process appends JSON lines to its own segment file ``seg-<writer>-<n>.jsonl`` in the spool
directory *before* the response is sent. A segment is created at its full size
(``posix_fallocate``: the disk space is reserved up front, so a full disk shows as a refused
rotation, never as a fault mid-copy) and mapped shared into memory; a request's records are
copied into the map. A shared map *is* the kernel's page cache of the file, so a record that was
answered survives a crash or ``kill -9`` of the process, exactly as a ``write(2)`` would, at a
lower cost (measured on ext4 in a VM, ~1.7 kB records: a ``write(2)`` to a file that a thread
``fsync``\\ s every 50 ms costs ~12 us; a copy into the map ~1 us, plus one page fault per
4 KiB page after each sync, ~8 us per record in all; see ``benchmarks/README.md``). A flusher
thread ``fdatasync``\\ s the file every ``fsync_interval_s`` (group commit: the window in which a
power loss of the host could lose answered records).

The unused tail of a segment is zero bytes; readers take a segment's data up to its first zero
byte (JSON lines never hold one: orjson escapes it), and a record counts only once its newline
is there. The record is copied first and its newline after it, so a reader that sees the
newline sees the whole line; one that sees a zero byte stops there and reads it on its next
pass. A closed segment is truncated to its data; a dead writer's segment keeps its zero tail.

The writer holds ``flock(LOCK_EX)`` on its active segment while it lives; a segment nobody
holds belongs to a closed or dead writer and is shipped and deleted by any process's shipper
(:mod:`credit_scoring.ledger.shipper`). A segment is rotated when the next records do not fit
in ``segment_bytes``.

Backpressure: when the unshipped spool exceeds ``max_bytes`` (the database is down for long)
or the disk refuses a segment, ``policy`` decides: ``reject`` (default) raises :class:`SpoolFull`
and the API answers 503 without a decision (nothing is answered that is not recorded); ``drop``
answers anyway and counts and logs every record not kept (``lost``). Nothing is dropped
silently.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import mmap
import os
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import orjson

logger = logging.getLogger(__name__)

Policy = Literal["reject", "drop"]
SEGMENT_GLOB = "seg-*.jsonl"


class SpoolFull(RuntimeError):
    """The spool cannot take a record (full or disk error) and the policy is ``reject``."""


#: Why a record was not kept (``lost``): the spool's bound, a disk error, unstorable.
LOST_REASONS = ("spool_full", "disk_error", "invalid")


class LedgerStats(ctypes.Structure):
    """Counters of the spool and shipper of one process (exported as metrics by the API).

    A C structure, so that it can live in memory shared with the shipper process
    (:mod:`credit_scoring.ledger.ship_process`): ``LedgerStats()`` is private to this process,
    :meth:`shared` maps it from a file both processes hold. Each counter has one writing process
    (the writer: ``written``, ``rejected``, ``lost_spool_full``/``lost_disk_error``; the shipper:
    ``shipped``, ``duplicates``, ``ship_errors``, ``lost_invalid``), except the two gauges
    (``pending_records``, ``spool_bytes``), which the writer raises per append and the shipper
    sets from the files every pass.
    """

    _fields_ = [
        (name, ctypes.c_int64)
        for name in (
            "written",
            "shipped",
            "duplicates",
            "rejected",
            "ship_errors",
            "spool_bytes",
            "pending_records",
            *(f"lost_{reason}" for reason in LOST_REASONS),
        )
    ]
    written: int
    shipped: int
    duplicates: int
    rejected: int
    ship_errors: int
    spool_bytes: int
    pending_records: int
    lost_spool_full: int
    lost_disk_error: int
    lost_invalid: int

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, fd: int) -> LedgerStats:
        """The counters in the file ``fd`` (sized and zeroed when empty), shared with every
        process that maps the same file."""
        size = ctypes.sizeof(cls)
        if os.fstat(fd).st_size < size:
            os.ftruncate(fd, size)
        stats = cls.from_buffer(mmap.mmap(fd, size))  # the structure keeps the map alive
        stats._lock = threading.Lock()
        return stats

    @property
    def lost(self) -> int:
        """Records not kept, all reasons."""
        return sum(getattr(self, f"lost_{reason}") for reason in LOST_REASONS)

    @property
    def lost_by_reason(self) -> dict[str, int]:
        """Records not kept, by reason (reasons with none left out)."""
        counts = {reason: getattr(self, f"lost_{reason}") for reason in LOST_REASONS}
        return {reason: n for reason, n in counts.items() if n}

    def add(self, name: str, n: int) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def add_lost(self, reason: str, n: int) -> None:
        """Count ``n`` records not kept for ``reason`` (one of :data:`LOST_REASONS`)."""
        self.add(f"lost_{reason}", n)


#: ``fdatasync`` where the platform has it (Linux), else ``fsync`` (macOS).
_datasync = getattr(os, "fdatasync", os.fsync)


def _reserve(fd: int, size: int) -> None:
    """Give the file ``size`` bytes of reserved disk: a full disk refuses here (ENOSPC), never
    with a SIGBUS on a copy into the map later. Sparse where the platform cannot reserve."""
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, 0, size)
    else:  # pragma: no cover - macOS
        os.ftruncate(fd, size)


def records_end(chunk: bytes) -> tuple[int, bool]:
    """Where the whole records in ``chunk`` (read from a segment) end: after the last newline
    before the first zero byte (the unwritten tail, or a record still being copied); and whether
    the chunk is free of zero bytes (the data may go on after it)."""
    zero = chunk.find(b"\0")
    return chunk.rfind(b"\n", 0, len(chunk) if zero < 0 else zero) + 1, zero < 0


def _dumps(record: Mapping[str, Any]) -> bytes:
    return orjson.dumps(
        record, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_SERIALIZE_NUMPY
    )


class SpoolWriter:
    """Copies records into this process's active segment (a shared map of the file); a thread
    ``fdatasync``\\ s it in small batches."""

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
        self._map: mmap.mmap | None = None
        self._segment_no = 0
        self._pos = 0  # bytes of records in the active segment
        self._dirty = False
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._last_loss_log = 0.0

    # --- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Create the directory and the first segment, start the fsync thread."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._rotate(self.segment_bytes)
        self._stop.clear()
        self._flusher = threading.Thread(target=self._flush_loop, name="ledger-fsync", daemon=True)
        self._flusher.start()

    def close(self) -> None:
        """Sync, trim and close the active segment (its records are then shippable by anyone)."""
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
        """Copy records into the spool before answering; returns how many were kept.

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
        size = len(data)
        reason = None
        if self.stats.spool_bytes + size > self.max_bytes:
            reason = "spool_full"
        else:
            with self._lock:
                try:
                    if self._map is None:
                        raise OSError(errno.EBADF, "spool is closed")
                    if self._pos + size > len(self._map):
                        self._rotate(max(self.segment_bytes, size))
                        assert self._map is not None
                    pos = self._pos
                    # The lines first, their last newline after: a reader that sees it sees all.
                    self._map[pos : pos + size - 1] = memoryview(data)[:-1]
                    self._map[pos + size - 1] = 10  # b"\n"
                    self._pos = pos + size
                    self._dirty = True
                except OSError as exc:
                    reason = f"disk_error:{errno.errorcode.get(exc.errno or 0, 'EIO')}"
        if reason is None:
            with self.stats._lock:
                self.stats.written += n
                self.stats.spool_bytes += size
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

    def _rotate(self, size: int) -> None:
        """Close the active segment; create, reserve, lock and map a new one of ``size`` bytes."""
        self._close_segment()
        self._segment_no += 1
        path = self.active_segment
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # "a live writer owns this segment"
            _reserve(fd, size)
            segment = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new file's name survives a power loss too
        finally:
            os.close(dir_fd)
        self._fd, self._map, self._pos = fd, segment, 0

    def _close_segment(self) -> None:
        if self._fd is None:
            return
        fd, segment = self._fd, self._map
        self._fd = self._map = None
        self._dirty = False
        try:
            _datasync(fd)
            os.ftruncate(fd, self._pos)  # the zero tail goes: a closed segment is its lines
            os.fsync(fd)
        finally:
            if segment is not None:
                segment.close()
            os.close(fd)  # releases the flock

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.fsync_interval_s):
            self.flush()

    def flush(self) -> None:
        """``fdatasync`` what was copied since the last flush (outside the writers' lock; the
        sync covers the map's dirty pages: they are the file's page cache)."""
        with self._lock:
            if not self._dirty or self._fd is None:
                return
            fd = os.dup(self._fd)
            self._dirty = False
        try:
            _datasync(fd)
        except OSError:
            logger.exception("fsync of the ledger spool failed")
        finally:
            os.close(fd)
