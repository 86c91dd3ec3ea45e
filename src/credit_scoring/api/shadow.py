"""The shadow challenger: the version holding ``CREDIT_SCORING_SHADOW_ALIAS`` scores a sampled
share (``CREDIT_SCORING_SHADOW_FRACTION``) of live applications after their response is sent.

Off the hot path: the scoring route calls :meth:`ShadowScorer.submit` once the response bytes
have gone out; that only appends the application to a bounded in-memory queue (sampling is one
``random()`` per request). One worker thread wakes every ``interval_s``, scores what
accumulated in one vectorised call of the shadow model (no reason codes), updates the
``credit_scoring_shadow_*`` metrics (decisions, agreement, approve/decline flips) and hands the
pairs to the shadow log
(:mod:`credit_scoring.predictions.shadow`, one :class:`ShadowLogWriter` call per batch, in that
same thread).
Shadow answers are never returned.

The shadow version is loaded, checked and live-reloaded by its own :class:`ModelManager`
(``role="shadow"``). A shadow that is missing, refused or raising only counts
``credit_scoring_shadow_errors_total{stage}``: serving never waits for it or fails with it.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

from credit_scoring.api.metrics import ApiMetrics
from credit_scoring.api.model_manager import ModelManager
from credit_scoring.predictions.shadow import ShadowLogWriter, ShadowRow

logger = logging.getLogger(__name__)

#: (request id, served version, served probability, served decision, applicant record)
Pending = tuple[str, str, float, str, dict[str, Any]]


class ShadowScorer:
    """Queue of served applications, scored by the shadow model in a worker thread."""

    def __init__(
        self,
        manager: ModelManager,
        shadow_log: ShadowLogWriter,
        metrics: ApiMetrics,
        *,
        fraction: float = 1.0,
        max_queue: int = 100_000,
        interval_s: float = 0.2,
    ) -> None:
        self.manager = manager
        self.shadow_log = shadow_log
        self.metrics = metrics
        self.fraction = fraction
        self.max_queue = max_queue
        self.interval_s = interval_s
        self._queue: collections.deque[Pending] = collections.deque()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._agree = metrics.shadow_agreement.labels("agree")
        self._disagree = metrics.shadow_agreement.labels("disagree")
        self._flip_up = metrics.shadow_flips.labels("decline_to_approve")
        self._flip_down = metrics.shadow_flips.labels("approve_to_decline")
        self._dropped = metrics.shadow_errors.labels("dropped")

    # --- producer side (after the response is sent) ---------------------------------------------
    def submit(
        self, ids: list[str], version: str, records: list[dict[str, Any]], results: list[Any]
    ) -> None:
        """Queue one request's applications for the shadow (sampled); never blocks or raises."""
        if self.fraction < 1.0 and random.random() >= self.fraction:  # noqa: S311 - sampling
            return
        if len(self._queue) + len(ids) > self.max_queue:
            self._dropped.inc(len(ids))
            return
        for rid, record, res in zip(ids, records, results, strict=True):
            self._queue.append((rid, version, res.probability, res.decision, record))

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 30.0) -> None:
        """Score what is queued, then stop and flush the shadow log."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join(timeout_s)
            self._thread = None
        self.shadow_log.close()

    @property
    def pending(self) -> int:
        return len(self._queue)

    # --- worker ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            stopping = self._stopping.wait(self.interval_s)
            self._drain()
            if stopping:
                self._drain()
                return

    def _drain(self, batch_size: int = 64) -> None:
        while self._queue:
            batch: list[Pending] = []
            while self._queue and len(batch) < batch_size:
                batch.append(self._queue.popleft())
            self.score(batch)
            # Small batches and a yield between them: this thread holds the GIL for about a
            # millisecond at a time, so the event loop's requests never wait a whole switch
            # interval (5 ms) behind the shadow (the served p99 is the cost goal).
            time.sleep(0)

    def score(self, batch: list[Pending]) -> None:
        """Score one batch with the current shadow version, count, log; errors only count."""
        loaded = self.manager.current
        if loaded is None:
            self.metrics.shadow_errors.labels("no_model").inc(len(batch))
            return
        try:
            results = loaded.model.score([p[4] for p in batch], max_reasons=0)
        except Exception as exc:
            self.metrics.shadow_errors.labels("score").inc(len(batch))
            logger.warning("shadow version %s failed to score: %s", loaded.version, exc)
            return
        ts = datetime.now(UTC)
        rows: list[ShadowRow] = []
        counts: dict[str, int] = {}
        agree = disagree = up = down = 0
        for (rid, served_version, served_pd, served_decision, _), res in zip(
            batch, results, strict=True
        ):
            decision = res.decision
            counts[decision] = counts.get(decision, 0) + 1
            if decision == served_decision:
                agree += 1
            else:
                disagree += 1
                if served_decision == "approve" and decision == "decline":
                    down += 1
                elif served_decision == "decline" and decision == "approve":
                    up += 1
            rows.append(
                {
                    "decision_id": rid,
                    "ts": ts,
                    "model_name": loaded.name,
                    "served_version": served_version,
                    "served_probability": served_pd,
                    "served_decision": served_decision,
                    "shadow_alias": loaded.alias,
                    "shadow_version": loaded.version,
                    "shadow_probability": res.probability,
                    "shadow_score": res.score,
                    "shadow_decision": decision,
                    "shadow_grade": getattr(res, "grade", ""),
                }
            )
        for decision, n in counts.items():
            self.metrics.shadow_decisions.labels(decision, loaded.version).inc(n)
        self._agree.inc(agree)
        self._disagree.inc(disagree)
        self._flip_up.inc(up)
        self._flip_down.inc(down)
        try:
            self.shadow_log.write(rows)
        except Exception as exc:  # a full disk, say: count it, never stop the worker
            self.metrics.shadow_errors.labels("log").inc(len(rows))
            logger.warning("shadow log write failed, %d pairs lost: %s", len(rows), exc)
