"""The decision record contract: what the API stores for every scored application, in one place.

The prediction log *is* the decision ledger (:mod:`credit_scoring.ledger`, see
``docs/architecture.md``): one record per scored application with ``decision_id`` (returned in
the response; the request id for ``/v1/score``, ``<request id>-<i>`` for the i-th application
of a batch), ``request_id``, ``ts`` (UTC, one per request), ``model_name``, ``model_version``
(text), ``inputs`` (the validated applicant fields), ``probability``, ``score`` (floats),
``decision`` (text), ``reasons`` (the reason codes as answered), ``latency_ms``, ``channel``
(``api``, ``batch`` or ``ui``) and, when the client sent one, ``application_key``: the lender's
own key of the application or applicant (field ``application_key`` of each application in the
request body). The decision id is unique per scoring; the application key is not: the same
applicant scored at two dates has two decisions and one key, which is what grade migration and
outcomes by application key join on. The API spools records and ships them to the ledger; the
ledger chains them; monitoring reads them back. This module imports nothing heavy (no pandas,
no database driver) so the hot path, the ledger and the readers can share it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, NotRequired, TypedDict

Channel = Literal["api", "batch", "ui"]

#: Optional request field (per application) and record field: the lender's application key.
APPLICATION_KEY = "application_key"
#: Longest application key accepted.
APPLICATION_KEY_MAX_LENGTH = 128


class DecisionRecord(TypedDict):
    """One decision record, keys in the contract's order."""

    decision_id: str
    request_id: str
    ts: datetime
    model_name: str
    model_version: str
    inputs: dict[str, Any]
    probability: float
    score: float
    decision: str
    reasons: list[dict[str, Any]]
    latency_ms: float
    channel: str
    application_key: NotRequired[str]


#: Every field of a record, in order.
FIELDS: tuple[str, ...] = tuple(DecisionRecord.__annotations__)

#: Fields the ledger requires of any decision record (others are optional and kept as given).
REQUIRED_FIELDS: tuple[str, ...] = (
    "decision_id",
    "ts",
    "model_name",
    "model_version",
    "inputs",
    "probability",
    "score",
    "decision",
)


def make_record(
    *,
    decision_id: str,
    request_id: str,
    model_name: str,
    model_version: str,
    inputs: dict[str, Any],
    probability: float,
    score: float,
    decision: str,
    reasons: list[dict[str, Any]],
    latency_ms: float,
    channel: str = "api",
    ts: datetime | None = None,
    application_key: str | None = None,
) -> DecisionRecord:
    """One record in the contract's field order (``ts`` defaults to now, UTC); the
    ``application_key`` only when given (records without one keep their old body)."""
    record: DecisionRecord = {
        "decision_id": decision_id,
        "request_id": request_id,
        "ts": ts or datetime.now(UTC),
        "model_name": model_name,
        "model_version": model_version,
        "inputs": inputs,
        "probability": probability,
        "score": score,
        "decision": decision,
        "reasons": reasons,
        "latency_ms": latency_ms,
        "channel": channel,
    }
    if application_key is not None:
        record["application_key"] = application_key
    return record
