"""Prometheus view of the spool and shipper counters (:class:`LedgerStats`), read at scrape.

``credit_scoring_ledger_pending_records`` (queue depth: spooled, not yet in the store),
``credit_scoring_ledger_spool_bytes``, and counters ``..._records_written_total`` (spooled),
``..._records_shipped_total``, ``..._records_duplicate_total`` (shipped twice, stored once),
``..._records_lost_total{reason}`` (``drop`` policy or unstorable), ``..._records_rejected_total``
(answered 503 under the ``reject`` policy) and ``..._store_errors_total``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from credit_scoring.ledger.spool import LedgerStats

_PREFIX = "credit_scoring_ledger"


class LedgerCollector(Collector):
    """Exports one process's :class:`LedgerStats`."""

    def __init__(self, stats: LedgerStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        yield GaugeMetricFamily(
            f"{_PREFIX}_pending_records",
            "Decision records in the spool not yet stored in the ledger (queue depth).",
            value=s.pending_records,
        )
        yield GaugeMetricFamily(
            f"{_PREFIX}_spool_bytes",
            "Bytes of unshipped records in the spool.",
            value=s.spool_bytes,
        )
        for name, value, help_text in (
            ("records_written", s.written, "Decision records written to the spool."),
            ("records_shipped", s.shipped, "Decision records stored in the ledger."),
            ("records_duplicate", s.duplicates, "Records shipped again and skipped (stored once)."),
            ("records_rejected", s.rejected, "Records refused by a full spool (request got 503)."),
            ("store_errors", s.ship_errors, "Failed appends to the ledger store (retried)."),
        ):
            yield CounterMetricFamily(f"{_PREFIX}_{name}", help_text, value=value)
        lost = CounterMetricFamily(
            f"{_PREFIX}_records_lost",
            "Decision records not kept (drop policy, disk error, unstorable), by reason.",
            labels=["reason"],
        )
        for reason in sorted({"spool_full", "disk_error", "invalid", *s.lost_by_reason}):
            lost.add_metric([reason], s.lost_by_reason.get(reason, 0))
        yield lost
