"""The shipper in a process of its own, so the serving process only copies records to the spool.

Shipping a record (parse, check, canonical JSON, hash chain, insert) costs tens of microseconds
of Python; in a thread of the API process it takes the GIL from the event loop each time a
request waits on a system call (``benchmarks/README.md``: throughput -25% at 1 connection, p99
x2.5 at 8). :class:`ShipperProcess` runs the same :class:`~credit_scoring.ledger.shipper.Shipper`
in a child process (``python -m credit_scoring.ledger.ship_process``, same interpreter) and
gives it what it needs without any process-wide state of the parent:

* the settings, pickled on its stdin; the pipe then stays open. A line ``stop <seconds>`` on it,
  or its end (the parent closed it, or died: the kernel closes the pipe even after ``kill -9``),
  tells the child to ship what remains for at most that long (the settings' shutdown timeout
  when the parent died) and exit: no shipper outlives its API, and nothing is lost either way
  (what is not shipped stays in the spool for the next process).
* the counters, :class:`~credit_scoring.ledger.spool.LedgerStats` in shared memory: a
  ``memfd`` (no file system needed: read-only root file systems work) mapped by both.
* the exit status: 0 when the spool was emptied, 3 when records stay in it.
* SIGINT and SIGTERM are ignored by the child: a Ctrl-C or a process-group TERM reaches the
  parent too, which stops the child through the pipe after its own shutdown.

``CREDIT_SCORING_LEDGER_SHIPPER=thread`` keeps the shipper in a thread of the API process instead
(one process; for platforms that do not allow child processes).
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from credit_scoring.config import Settings

logger = logging.getLogger(__name__)

#: Exit status of a child that left records in the spool (0: emptied it).
LEFT_IN_SPOOL = 3
#: Time a stopping child gets beyond its shipping budget (start-up, closing the store).
GRACE_S = 10.0


@dataclass(frozen=True)
class ShipperJob:
    """What the child needs: the settings and an optional logging set-up (picklable)."""

    settings: Settings
    log_setup: Callable[[], None] | None = None


def stats_file(directory: os.PathLike[str] | str) -> int:
    """A file descriptor for shared counters: a ``memfd`` on Linux, else an unlinked temporary
    file in ``directory`` (the spool, which is writable by definition)."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("credit-scoring-ledger-stats")
    fd, path = tempfile.mkstemp(prefix=".stats-", dir=directory)  # pragma: no cover - macOS
    os.unlink(path)  # pragma: no cover
    return fd  # pragma: no cover


class ShipperProcess:
    """Start, stop and wait for the child shipper; ``start``/``close`` as :class:`Shipper`'s."""

    def __init__(self, job: ShipperJob, stats_fd: int) -> None:
        self.job = job
        self.stats_fd = stats_fd
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", __name__, str(self.stats_fd)],
            stdin=subprocess.PIPE,
            pass_fds=(self.stats_fd,),
        )
        assert proc.stdin is not None
        proc.stdin.write(pickle.dumps(self.job))
        proc.stdin.flush()
        self._proc = proc

    def close(self, timeout_s: float) -> bool:
        """Ask the child to ship what remains within ``timeout_s``, wait for it; True when the
        spool was emptied."""
        proc, self._proc = self._proc, None
        if proc is None:
            return True
        assert proc.stdin is not None
        try:
            proc.stdin.write(f"stop {max(timeout_s, 0.0)}\n".encode())
            proc.stdin.close()
        except BrokenPipeError:  # it died; its exit status says what happened
            pass
        try:
            status = proc.wait(timeout_s + GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            logger.error(
                "ledger shipper process %d did not stop within %.1fs and was killed; what it "
                "did not ship stays in the spool for the next process (not lost)",
                proc.pid,
                timeout_s + GRACE_S,
            )
            return False
        if status not in (0, LEFT_IN_SPOOL):
            logger.error("ledger shipper process %d exited with status %d", proc.pid, status)
        return status == 0


def _stop_budget(stdin: IO[bytes], default_s: float) -> float:
    """Block until the parent says stop (its budget) or goes away (``default_s``)."""
    line = stdin.readline()
    if line.startswith(b"stop "):
        try:
            return float(line.split()[1])
        except (IndexError, ValueError):
            pass
    return default_s


def main(argv: list[str] | None = None) -> int:
    """The child: ship the spool until the parent says stop or goes away."""
    from credit_scoring.ledger import open_ledger
    from credit_scoring.ledger.shipper import Shipper
    from credit_scoring.ledger.spool import LedgerStats

    args = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stdin = sys.stdin.buffer
    job: ShipperJob = pickle.load(stdin)  # noqa: S301 - written by the parent process
    if job.log_setup is not None:
        job.log_setup()
    settings = job.settings
    stats = LedgerStats.shared(int(args[0]))
    shipper = Shipper(
        open_ledger(settings),
        settings.resolved_ledger_spool_dir,
        stats,
        batch_size=settings.ledger_ship_batch,
    )
    shipper.start()
    budget = _stop_budget(stdin, settings.ledger_shutdown_timeout_s)
    emptied = shipper.close(budget)
    logging.shutdown()
    return 0 if emptied else LEFT_IN_SPOOL


if __name__ == "__main__":
    sys.exit(main())
