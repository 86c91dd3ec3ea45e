"""Human review of a decision: a new ledger entry linked to it, and override metrics.

An *override* is a review whose final decision differs from the model's: every resolved case of
the "review" band (the model decided nothing final), an approved decline, a declined approval.
A review that confirms the model's decision is counted as a review, not an override.

``/metrics`` exports, per model version and decision band (the model's decision):

* ``credit_scoring_decision_reviews_total{model_version, band, final_decision}``;
* ``credit_scoring_decision_overrides_total{model_version, band}``;
* ``credit_scoring_override_rate{model_version, band}``: overrides / decisions scored in that band
  by this process (``credit_scoring_decisions_total``). With several replicas, compute the
  fleet's rate in PromQL: ``sum by (model_version, band) (credit_scoring_decision_overrides_total)
  / sum by (model_version, band) (label_replace(credit_scoring_decisions_total, "band",
  "$1", "decision", "(.*)"))``.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from credit_scoring.ledger import LedgerEntry, LedgerStore


class OverrideMetrics(Collector):
    """Review and override counts of this process, and the override rate per version/band."""

    def __init__(self, registry: CollectorRegistry, decisions: Counter) -> None:
        self._decisions = decisions
        self._lock = threading.Lock()
        self._reviews: Tally[tuple[str, str, str]] = Tally()
        self._overrides: Tally[tuple[str, str]] = Tally()
        registry.register(self)

    def observe(self, entry: LedgerEntry) -> None:
        body = entry.body
        version, band = str(body["model_version"]), str(body["original_decision"])
        with self._lock:
            self._reviews[(version, band, str(body["final_decision"]))] += 1
            if body["final_decision"] != band:
                self._overrides[(version, band)] += 1

    def _scored(self) -> dict[tuple[str, str], float]:
        out: dict[tuple[str, str], float] = {}
        for metric in self._decisions.collect():
            for s in metric.samples:
                if s.name.endswith("_total"):
                    out[(s.labels["model_version"], s.labels["decision"])] = s.value
        return out

    def collect(self) -> Iterator[Any]:
        with self._lock:
            reviews, overrides = dict(self._reviews), dict(self._overrides)
        r = CounterMetricFamily(
            "credit_scoring_decision_reviews",
            "Human reviews by model version, the model's decision band and the final decision.",
            labels=["model_version", "band", "final_decision"],
        )
        for review_key, n in sorted(reviews.items()):
            r.add_metric(list(review_key), n)
        o = CounterMetricFamily(
            "credit_scoring_decision_overrides",
            "Reviews whose final decision differs from the model's, by model version and band.",
            labels=["model_version", "band"],
        )
        for key, n in sorted(overrides.items()):
            o.add_metric(list(key), n)
        rate = GaugeMetricFamily(
            "credit_scoring_override_rate",
            "Overrides / decisions scored in the band, by model version (this process).",
            labels=["model_version", "band"],
        )
        for band_key, scored in sorted(self._scored().items()):
            if scored:
                rate.add_metric(list(band_key), overrides.get(band_key, 0) / scored)
        yield r
        yield o
        yield rate

    def describe(self) -> list[Any]:
        return []  # families are only known at collect time


def review_decision(
    store: LedgerStore,
    decision_id: str,
    *,
    final_decision: str,
    reviewer: str,
    reason: str,
    role: str,
    channel: str,
    metrics: OverrideMetrics | None = None,
) -> LedgerEntry:
    """Store a review (raises ``UnknownDecision``, ``InvalidRecord``) and count it."""
    entry = store.add_review(
        decision_id,
        final_decision=final_decision,
        reviewer=reviewer,
        reason=reason,
        extra={"role": role, "channel": channel},
    )
    if metrics is not None:
        metrics.observe(entry)
    return entry
