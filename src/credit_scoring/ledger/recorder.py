"""The decision recorder: spool writer + shipper + store, wired from the settings.

This is what the scoring API holds: ``record(records)`` on the request path (raises
:class:`~credit_scoring.ledger.spool.SpoolFull` under the ``reject`` policy), ``start()`` and
``close()`` in the application's lifespan, ``stats`` for the metrics. The shipper runs in a child
process (:mod:`credit_scoring.ledger.ship_process`, counters in shared memory) or, with
``ledger_shipper="thread"``, in a thread of this process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from credit_scoring.config import Settings
from credit_scoring.ledger.ship_process import ShipperJob, ShipperProcess, stats_file
from credit_scoring.ledger.shipper import Shipper
from credit_scoring.ledger.spool import LedgerStats, SpoolWriter
from credit_scoring.ledger.store import LedgerStore


class DecisionRecorder:
    """Every answered decision reaches the ledger store or is counted and logged as lost."""

    def __init__(
        self,
        settings: Settings,
        store: LedgerStore,
        *,
        log_setup: Callable[[], None] | None = None,
    ) -> None:
        """``log_setup`` (picklable) configures logging in the shipper process."""
        self.store = store
        directory = settings.resolved_ledger_spool_dir
        self.shipper: Shipper | ShipperProcess
        if settings.ledger_shipper == "process":
            directory.mkdir(parents=True, exist_ok=True)
            stats_fd = stats_file(directory)
            self.stats = LedgerStats.shared(stats_fd)
            self.shipper = ShipperProcess(ShipperJob(settings, log_setup), stats_fd)
        else:
            self.stats = LedgerStats()
            self.shipper = Shipper(
                store, directory, self.stats, batch_size=settings.ledger_ship_batch
            )
        self.writer = SpoolWriter(
            directory,
            self.stats,
            max_bytes=settings.ledger_spool_max_bytes,
            segment_bytes=settings.ledger_spool_segment_bytes,
            fsync_interval_s=settings.ledger_fsync_interval_s,
            policy=settings.ledger_full_policy,
        )
        self.shutdown_timeout_s = settings.ledger_shutdown_timeout_s

    def start(self) -> None:
        self.writer.open()
        self.shipper.start()

    def record(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Spool records before the answer is sent; returns how many were kept."""
        return self.writer.append(records)

    def close(self, timeout_s: float | None = None) -> bool:
        """Close the spool (fsync), then ship for at most the shutdown timeout."""
        t0 = time.monotonic()
        self.writer.close()
        budget = self.shutdown_timeout_s if timeout_s is None else timeout_s
        return self.shipper.close(max(budget - (time.monotonic() - t0), 0.0))


def open_recorder(
    settings: Settings, log_setup: Callable[[], None] | None = None
) -> DecisionRecorder:
    """The recorder for the configured ledger store (not started)."""
    from credit_scoring.ledger import open_ledger

    return DecisionRecorder(settings, open_ledger(settings), log_setup=log_setup)
