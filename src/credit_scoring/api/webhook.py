"""Verification of MLflow webhook deliveries (MLflow >= 3.3).

MLflow signs each delivery with HMAC-SHA256 over ``"{delivery_id}.{timestamp}.{body}"`` using the
webhook's secret and sends ``X-MLflow-Signature: v1,<base64>``, ``X-MLflow-Timestamp`` (Unix
seconds) and ``X-MLflow-Delivery-Id``. The body is ``{"entity", "action", "timestamp", "data"}``;
for ``model_version_alias`` events ``data`` holds ``name``, ``alias`` and (on create) ``version``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
#: Deliveries older (or newer) than this are refused, against replays.
MAX_CLOCK_SKEW_S = 300


class WebhookAuthError(ValueError):
    """The delivery's signature headers are missing, stale or wrong."""


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The ``X-MLflow-Signature`` value MLflow sends for this delivery."""
    content = delivery_id.encode() + b"." + timestamp.encode() + b"." + body
    digest = hmac.new(secret.encode("utf-8"), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None) -> str:
    """Check a delivery's signature and freshness; return its delivery id."""
    delivery_id = headers.get(DELIVERY_ID_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if not delivery_id or not timestamp or not signature:
        raise WebhookAuthError(
            f"missing webhook headers: {SIGNATURE_HEADER}, {TIMESTAMP_HEADER} and "
            f"{DELIVERY_ID_HEADER} are required"
        )
    # ASCII digits, at most 12 (a Unix time in seconds until the year 33658): int() would accept
    # other digits and any length, and a 400-digit value overflowed the clock-skew arithmetic.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise WebhookAuthError(f"{TIMESTAMP_HEADER} is not a Unix timestamp in seconds")
    ts = int(timestamp)
    current = time.time() if now is None else now
    if abs(current - ts) > MAX_CLOCK_SKEW_S:
        raise WebhookAuthError(f"webhook timestamp is more than {MAX_CLOCK_SKEW_S}s off")
    expected = sign(secret, delivery_id, timestamp, body)
    # The header may carry several space-separated signatures (secret rotation).
    if not any(hmac.compare_digest(expected.encode(), s.encode()) for s in signature.split()):
        raise WebhookAuthError("webhook signature does not match")
    return delivery_id
