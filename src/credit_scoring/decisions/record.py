"""The decision record of one scored application, in the ledger's format (``DECISION_FIELDS``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def decision_record(
    decision_id: str,
    *,
    model_name: str,
    model_version: str,
    inputs: Mapping[str, Any],
    result: Any,
    channel: str,
    ts: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """``result`` is a :class:`~credit_scoring.scoring.model.ScoreResult`."""
    return {
        "decision_id": decision_id,
        "ts": ts or datetime.now(UTC),
        "model_name": model_name,
        "model_version": model_version,
        "inputs": dict(inputs),
        "probability": result.probability,
        "score": result.score,
        "decision": result.decision,
        "reasons": [
            {
                "feature": r.feature,
                "value": r.value,
                "contribution": r.contribution,
                "points": r.points,
                "reason": r.reason,
            }
            for r in result.reasons
        ],
        "channel": channel,
        **extra,
    }
