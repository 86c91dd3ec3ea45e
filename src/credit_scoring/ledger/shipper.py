"""The shipper: moves spooled decision records into the ledger store, exactly once.

One background thread per process (in the API, inside its shipper process:
:mod:`credit_scoring.ledger.ship_process`) scans the spool directory: every segment, its own and
those left by processes that stopped or died (no ``flock`` held on them). Per segment, the position
shipped so far is kept in ``<segment>.offset`` (whose ``flock`` also keeps two shippers off the
same segment). A batch is appended to the store *then* the offset advances: a crash in between
ships the batch again, and the store's idempotent insert on ``decision_id`` skips it (counted
as ``duplicates``): each answered decision is stored exactly once.

A failing or hanging database never loses records: they stay in the spool (bounded by its
size setting, see :mod:`credit_scoring.ledger.spool`) and are retried with backoff (0.5 s to
10 s). Records that can never be stored (not JSON, missing fields, a torn last line of a dead
writer's segment) are moved to ``<spool>/quarantine/`` and counted and logged as lost.

At shutdown, :meth:`Shipper.close` gives the shipper ``timeout_s`` to ship what remains; what
it could not ship stays in the spool for the next process (logged with its count), never lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from credit_scoring.ledger.records import InvalidRecord, decision_body
from credit_scoring.ledger.spool import SEGMENT_GLOB, LedgerStats, records_end
from credit_scoring.ledger.store import LedgerStore

logger = logging.getLogger(__name__)

_READ_CHUNK = 4 << 20
#: First read when counting new records: an active segment is mostly its zero tail.
_FIRST_CHUNK = 64 << 10
_OFFSET_WIDTH = 20


@dataclass
class _Segment:
    offset: int = 0
    counted_to: int = 0
    pending: int = 0


class Shipper:
    """Background thread shipping the spool directory's segments into a :class:`LedgerStore`."""

    def __init__(
        self,
        store: LedgerStore,
        directory: Path,
        stats: LedgerStats,
        *,
        batch_size: int = 1000,
        interval_s: float = 0.2,
        max_backoff_s: float = 10.0,
        summary_interval_s: float = 30.0,
    ) -> None:
        self.store = store
        self.directory = directory
        self.stats = stats
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self.summary_interval_s = summary_interval_s
        self._segments: dict[Path, _Segment] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing_since: float | None = None
        self._last_summary = time.monotonic()

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ledger-shipper", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float) -> bool:
        """Ship what remains for at most ``timeout_s``; True when the spool was emptied."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(max(timeout_s, 0.0))
            alive = self._thread.is_alive()
            self._thread = None
            if alive:
                self.stats.pending_records, self.stats.spool_bytes = pending_in(self.directory)
                logger.error(
                    "ledger shipper did not finish within %.1fs (database slow or down): "
                    "%d record(s), %d bytes stay in the spool %s and are shipped by the next "
                    "process (not lost)",
                    timeout_s,
                    self.stats.pending_records,
                    self.stats.spool_bytes,
                    self.directory,
                )
                return False
        with contextlib.suppress(Exception):
            self.store.close()
        if self.stats.pending_records:
            logger.warning(
                "ledger: %d record(s) stay in the spool %s for the next process",
                self.stats.pending_records,
                self.directory,
            )
            return False
        logger.info("ledger spool shipped; shipped %d record(s) in total", self.stats.shipped)
        return True

    def _run(self) -> None:
        try:
            # Tables exist from the start, so monitoring and the workbench can read an empty
            # ledger before the first decision; a store that is down is retried by shipping.
            self.store.prepare()
        except Exception as exc:  # logged; the loop below retries with backoff
            logger.warning("ledger store not ready yet (%s); shipping retries", _first_line(exc))
        backoff = 0.5
        while True:
            stopping = self._stop.is_set()
            ok = self.ship_once()
            if stopping:
                return
            if ok:
                backoff = 0.5
                self._stop.wait(self.interval_s)
            else:
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)

    # --- one pass ------------------------------------------------------------------------------
    def ship_once(self) -> bool:
        """Scan and ship every segment once; False when the store failed."""
        ok = True
        try:
            paths = sorted(self.directory.glob(SEGMENT_GLOB))
        except OSError:
            logger.exception("cannot list the ledger spool %s", self.directory)
            return False
        present = set(paths)
        self._segments = {p: s for p, s in self._segments.items() if p in present}
        self._refresh(paths)  # gauges first: a hung store must not freeze them
        for path in paths:
            if not ok:
                break
            try:
                ok = self._ship_segment(path)
            except FileNotFoundError:
                self._segments.pop(path, None)  # shipped and deleted by another process
        self._refresh(paths)
        self._summary(ok)
        return ok

    def _refresh(self, paths: list[Path]) -> None:
        for path in paths:
            try:
                self._count_segment(path)
            except FileNotFoundError:
                self._segments.pop(path, None)
        self._measure()

    def _count_segment(self, path: Path) -> None:
        state = self._segments.get(path)
        if state is None:
            try:
                fd = os.open(path.with_suffix(".offset"), os.O_RDONLY)
            except FileNotFoundError:
                offset = 0
            else:
                try:
                    offset = _read_offset(fd)
                finally:
                    os.close(fd)
            state = self._segments[path] = _Segment(offset, offset, 0)
        seg_fd = os.open(path, os.O_RDONLY)
        try:
            self._count(seg_fd, state, os.fstat(seg_fd).st_size)
        finally:
            os.close(seg_fd)

    def _measure(self) -> None:
        total_bytes = sum(max(s.counted_to - s.offset, 0) for s in self._segments.values())
        with self.stats._lock:  # writers add to both between scans
            self.stats.pending_records = sum(s.pending for s in self._segments.values())
            self.stats.spool_bytes = total_bytes

    def _summary(self, ok: bool) -> None:
        now = time.monotonic()
        if not ok and self._failing_since is None:
            self._failing_since = now
        if ok and self._failing_since is not None:
            logger.warning(
                "ledger store reachable again after %.0fs; %d record(s) pending in the spool",
                now - self._failing_since,
                self.stats.pending_records,
            )
            self._failing_since = None
        if now - self._last_summary >= self.summary_interval_s and (
            self.stats.pending_records or not ok
        ):
            self._last_summary = now
            logger.warning(
                "ledger spool: %d record(s) / %d bytes pending, shipped %d, duplicates %d, "
                "lost %d, rejected %d, store errors %d",
                self.stats.pending_records,
                self.stats.spool_bytes,
                self.stats.shipped,
                self.stats.duplicates,
                self.stats.lost,
                self.stats.rejected,
                self.stats.ship_errors,
            )

    def _ship_segment(self, path: Path) -> bool:
        offset_path = path.with_suffix(".offset")
        lock_fd = os.open(offset_path, os.O_RDWR | os.O_CREAT, 0o640)
        try:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True  # another process's shipper has it
            seg_fd = os.open(path, os.O_RDONLY)
            try:
                try:
                    fcntl.flock(seg_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    closed = True  # no live writer: ship all, then delete
                except BlockingIOError:
                    closed = False
                offset = _read_offset(lock_fd)
                state = self._segments.get(path)
                if state is None or state.offset != offset:  # another process shipped some
                    state = self._segments[path] = _Segment(offset, offset, 0)
                size = os.fstat(seg_fd).st_size
                self._count(seg_fd, state, size)
                ok = self._ship_range(path, seg_fd, lock_fd, state)
                if ok and closed:
                    self._finish(path, offset_path, seg_fd, state, size)
                return ok
            finally:
                os.close(seg_fd)
        finally:
            os.close(lock_fd)

    def _count(self, fd: int, state: _Segment, size: int) -> None:
        """Count the whole records after ``counted_to`` and move it to their end."""
        pos = max(state.counted_to, state.offset)
        step = _FIRST_CHUNK
        while pos < size:
            chunk = os.pread(fd, min(step, size - pos), pos)
            if not chunk:
                break
            end, clean = records_end(chunk)
            state.pending += chunk.count(b"\n", 0, end)
            pos += end
            if not clean or (end == 0 and (len(chunk) < step or step == _READ_CHUNK)):
                break  # the data ends here (zero tail, or a partial last line at the end)
            step = min(step * 2, _READ_CHUNK)
        state.counted_to = pos

    def _ship_range(self, path: Path, seg_fd: int, lock_fd: int, state: _Segment) -> bool:
        """Ship the counted records (up to ``counted_to``: whole lines, no zero tail)."""
        while state.offset < state.counted_to:
            chunk = os.pread(
                seg_fd, min(_READ_CHUNK, state.counted_to - state.offset), state.offset
            )
            cut = chunk.rfind(b"\n")
            if cut < 0:
                return True  # only a partial line so far
            lines = chunk[: cut + 1].split(b"\n")[:-1]
            pos = state.offset
            for i in range(0, len(lines), self.batch_size):
                part = lines[i : i + self.batch_size]
                nbytes = sum(len(line) + 1 for line in part)
                bodies = self._parse(path, part)
                try:
                    result = self.store.append_bodies(bodies)
                except Exception as exc:
                    self.stats.add("ship_errors", 1)
                    logger.warning(
                        "ledger store %s refused %d record(s) (kept in the spool, retrying): %s",
                        self.store.describe(),
                        len(bodies),
                        _first_line(exc),
                    )
                    return False
                pos += nbytes
                _write_offset(lock_fd, pos)
                state.offset = pos
                state.pending = max(state.pending - len(part), 0)
                self.stats.add("shipped", result.inserted)
                self.stats.add("duplicates", result.duplicates)
        return True

    def _parse(self, path: Path, lines: list[bytes]) -> list[dict[str, Any]]:
        """The lines as ledger bodies; a line that is not a valid record is quarantined."""
        bodies: list[dict[str, Any]] = []
        for line in lines:
            try:
                record = orjson.loads(line)
                if not isinstance(record, dict):
                    raise InvalidRecord("not a JSON object")
                bodies.append(decision_body(record))
            except (orjson.JSONDecodeError, InvalidRecord) as exc:
                self._quarantine(path, line, str(exc))
        return bodies

    def _quarantine(self, path: Path, line: bytes, why: str) -> None:
        qdir = self.directory / "quarantine"
        qdir.mkdir(exist_ok=True)
        with (qdir / path.name).open("ab") as fh:
            fh.write(line.rstrip(b"\n") + b"\n")
        self.stats.add_lost("invalid", 1)
        logger.error(
            "LOST 1 decision record: cannot be stored (%s); kept in %s", why, qdir / path.name
        )

    def _finish(
        self, path: Path, offset_path: Path, seg_fd: int, state: _Segment, size: int
    ) -> None:
        # After the records: the zero tail of a writer that died, maybe a torn last record.
        tail = os.pread(seg_fd, max(size - state.offset, 0), state.offset).rstrip(b"\0")
        if tail:
            self._quarantine(path, tail, "torn last line of a dead writer's segment")
        path.unlink()
        offset_path.unlink(missing_ok=True)
        self._segments.pop(path, None)


def pending_in(directory: Path) -> tuple[int, int]:
    """(records, bytes) not yet shipped in a spool directory, counted from the files."""
    records = nbytes = 0
    for path in directory.glob(SEGMENT_GLOB):
        try:
            fd = os.open(path.with_suffix(".offset"), os.O_RDONLY)
            try:
                offset = _read_offset(fd)
            finally:
                os.close(fd)
        except FileNotFoundError:
            offset = 0
        try:
            data = path.read_bytes()[offset:]
        except FileNotFoundError:
            continue
        end, _ = records_end(data)
        records += data.count(b"\n", 0, end)
        nbytes += end
    return records, nbytes


def _read_offset(fd: int) -> int:
    raw = os.pread(fd, _OFFSET_WIDTH, 0).strip()
    try:
        return int(raw) if raw else 0
    except ValueError:
        return 0  # unreadable: start over; the store skips what it already has


def _write_offset(fd: int, offset: int) -> None:
    os.pwrite(fd, str(offset).rjust(_OFFSET_WIDTH).encode(), 0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
