"""Prometheus metrics of the scoring API (one registry per app instance).

Each app gets its own :class:`CollectorRegistry` so several apps can live in one process (tests).
Run one uvicorn worker per container and scale with replicas: the registry is per process.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "ApiMetrics"]

# Scoring answers in about a millisecond; the low buckets are what matters.
_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class ApiMetrics:
    """All metrics the API exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Labelled children by label values: the label lookup (validation, tuple, lock) would
        # otherwise be repeated on every request.
        self._decision_children: dict[tuple[str, str], Any] = {}
        r = self.registry
        self.requests = Counter(
            "credit_scoring_http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "credit_scoring_http_request_duration_seconds",
            "HTTP request latency by route, method and status.",
            ["route", "method", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "credit_scoring_http_errors",
            "Requests answered with an error, by route and kind (client/server/exception).",
            ["route", "kind"],
            registry=r,
        )
        self.decisions = Counter(
            "credit_scoring_decisions",
            "Scored applications by decision and model version.",
            ["decision", "model_version"],
            registry=r,
        )
        self.batch_size = Histogram(
            "credit_scoring_batch_size",
            "Applications per batch request.",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000),
            registry=r,
        )
        self.model_info = Gauge(
            "credit_scoring_model_info",
            "The served model version (value 1).",
            ["name", "version", "alias", "run_id", "source"],
            registry=r,
        )
        self.model_loaded = Gauge(
            "credit_scoring_model_loaded", "1 while a model is loaded and served.", registry=r
        )
        self.reloads = Counter(
            "credit_scoring_model_reloads",
            "Model reload attempts by outcome (swapped, unchanged, failed).",
            ["outcome", "trigger"],
            registry=r,
        )
        self.registry_errors = Counter(
            "credit_scoring_registry_errors",
            "Failed calls to the MLflow registry (unreachable, alias missing...).",
            registry=r,
        )
        # The decision ledger's spool and shipper: credit_scoring.ledger.metrics (registered
        # on this registry by the app).
        self.slow_clients = Counter(
            "credit_scoring_slow_clients",
            "Connections cut off because headers or body did not arrive in time (408).",
            ["phase"],
            registry=r,
        )
        self.refused_version = Gauge(
            "credit_scoring_model_refused_version",
            "1 for a version the alias points at that the API refused to serve (it keeps "
            "serving the previous one); cleared when the alias serves again.",
            ["name", "version", "alias"],
            registry=r,
        )

        # --- shadow challenger (scored after the response, never returned) ---------------------
        self.shadow_decisions = Counter(
            "credit_scoring_shadow_decisions",
            "Applications scored by the shadow challenger, by its decision and version.",
            ["decision", "model_version"],
            registry=r,
        )
        self.shadow_agreement = Counter(
            "credit_scoring_shadow_agreement",
            "Shadow pairs by whether the challenger's decision equals the served one "
            "(outcome agree/disagree).",
            ["outcome"],
            registry=r,
        )
        self.shadow_flips = Counter(
            "credit_scoring_shadow_flips",
            "Shadow pairs where approve and decline swap (approve_to_decline: served approve, "
            "challenger decline; decline_to_approve: the reverse).",
            ["direction"],
            registry=r,
        )
        self.shadow_errors = Counter(
            "credit_scoring_shadow_errors",
            "Shadow scoring problems by stage (registry, score, no_model, dropped, log); serving "
            "is never affected.",
            ["stage"],
            registry=r,
        )
        self.shadow_reloads = Counter(
            "credit_scoring_shadow_model_reloads",
            "Shadow model reload attempts by outcome (swapped, unchanged, failed).",
            ["outcome", "trigger"],
            registry=r,
        )
        self.shadow_model_info = Gauge(
            "credit_scoring_shadow_model_info",
            "The shadow challenger version (value 1).",
            ["name", "version", "alias", "run_id", "source"],
            registry=r,
        )

    def decision(self, decision: str, version: str) -> Any:
        """The ``decisions`` counter child of one (decision, version), looked up once."""
        child = self._decision_children.get((decision, version))
        if child is None:
            child = self._decision_children[(decision, version)] = self.decisions.labels(
                decision, version
            )
        return child

    def set_model(self, name: str, version: str, alias: str, run_id: str, source: str) -> None:
        """Publish the served version (only one series is set at a time)."""
        self.model_info.clear()
        self.model_info.labels(name, version, alias, run_id, source).set(1)
        self.model_loaded.set(1)

    def set_shadow_model(
        self, name: str, version: str, alias: str, run_id: str, source: str
    ) -> None:
        """Publish the shadow challenger's version."""
        self.shadow_model_info.clear()
        self.shadow_model_info.labels(name, version, alias, run_id, source).set(1)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
