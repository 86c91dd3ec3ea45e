"""Shared by the ledger tests: a decision record and a poll with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def decision_record(i: int, prefix: str = "d") -> dict[str, Any]:
    """A minimal valid decision record with id ``<prefix>-<i>``."""
    return {
        "decision_id": f"{prefix}-{i}",
        "ts": datetime.now(UTC),
        "model_name": "credit-scoring",
        "model_version": "1",
        "inputs": {"age": 40, "credit_amount": 1200.0 + i},
        "probability": 0.12,
        "score": 640.0,
        "decision": "approve",
        "reasons": [],
    }


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    """Poll ``predicate`` until true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
