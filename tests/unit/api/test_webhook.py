"""Webhook signatures are checked exactly as MLflow computes them."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from mlflow.webhooks.delivery import _generate_hmac_signature

from credit_scoring.api import webhook

pytestmark = pytest.mark.unit

BODY = b'{"entity": "model_version_alias", "action": "created", "data": {}}'


def _headers(secret: str, ts: int | None = None, delivery: str = "d-1") -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    return {
        webhook.DELIVERY_ID_HEADER: delivery,
        webhook.TIMESTAMP_HEADER: stamp,
        webhook.SIGNATURE_HEADER: _generate_hmac_signature(secret, delivery, stamp, BODY.decode()),
    }


def test_signature_matches_mlflows_own() -> None:
    assert webhook.verify("s3cret", _headers("s3cret"), BODY) == "d-1"


# Headers are built when the test runs, not at collection: a stale timestamp would fail the
# clock-skew check first in a long session.
@pytest.mark.parametrize(
    ("make_headers", "message"),
    [
        (lambda: {}, "missing webhook headers"),
        (lambda: _headers("other-secret"), "does not match"),
        (lambda: _headers("s3cret", ts=int(time.time()) - 3600), "more than 300s off"),
        (
            lambda: {**_headers("s3cret"), webhook.TIMESTAMP_HEADER: "yesterday"},
            "not a Unix timestamp",
        ),
    ],
)
def test_bad_deliveries_are_refused(
    make_headers: Callable[[], dict[str, str]], message: str
) -> None:
    with pytest.raises(webhook.WebhookAuthError, match=message):
        webhook.verify("s3cret", make_headers(), BODY)


def test_tampered_body_is_refused() -> None:
    with pytest.raises(webhook.WebhookAuthError, match="does not match"):
        webhook.verify("s3cret", _headers("s3cret"), BODY.replace(b"created", b"deleted"))
