"""The ledger counters appear in the Prometheus exposition with their live values."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from credit_scoring.ledger.metrics import LedgerCollector
from credit_scoring.ledger.spool import LedgerStats

pytestmark = pytest.mark.unit


def test_exposition_reads_the_stats_at_scrape_time() -> None:
    stats = LedgerStats()
    registry = CollectorRegistry()
    registry.register(LedgerCollector(stats))
    stats.add("written", 7)
    stats.add("shipped", 5)
    stats.add_lost("spool_full", 2)
    stats.pending_records = 2
    text = generate_latest(registry).decode()
    assert "credit_scoring_ledger_records_written_total 7.0" in text
    assert "credit_scoring_ledger_records_shipped_total 5.0" in text
    assert 'credit_scoring_ledger_records_lost_total{reason="spool_full"} 2.0' in text
    assert 'credit_scoring_ledger_records_lost_total{reason="invalid"} 0.0' in text
    assert "credit_scoring_ledger_pending_records 2.0" in text
