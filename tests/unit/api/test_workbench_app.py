"""The workbench and the decision API in-process: sessions, CSRF, roles, the ledger records,
reviews and override metrics, the notice, counterfactuals (real tiny models, real SQLite ledger).
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from credit_scoring.api.app import create_app
from credit_scoring.api.schemas import example_application
from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.ledger import open_ledger

pytestmark = pytest.mark.unit

SCORING = {"X-API-Key": "key-one"}
OFFICER = {"X-API-Key": "of-1"}
AUDITOR = {"X-API-Key": "au-1"}
ADMIN = {"X-API-Key": "admin-key"}


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(
        reload_interval_s=60,
        max_body_bytes=20_000,
        officer_api_keys="of-1",
        auditor_api_keys="au-1",
    )


@pytest.fixture
def client(settings: Settings, make_source: Callable[..., Any]) -> Iterator[TestClient]:
    source = make_source("1")
    app = create_app(settings, source_factory=lambda: source)
    with TestClient(app, follow_redirects=False) as c:
        deadline = time.monotonic() + 20
        while c.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield c


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def sign_in(client: TestClient, key: str, name: str = "Pat") -> str:
    token = csrf(client.get("/ui/sign-in").text)
    r = client.post("/ui/sign-in", data={"csrf_token": token, "key": key, "name": name})
    assert r.status_code == 303, r.text
    return csrf(client.get(r.headers["location"]).text)


def score_in_ui(client: TestClient, token: str, record: dict[str, Any]) -> str:
    r = client.post("/ui/score", data={"csrf_token": token, **record})
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[1]


def test_pages_need_a_session_and_forms_a_csrf_token(client: TestClient) -> None:
    for path in ("/ui/score", "/ui/queue", "/ui/lookup", "/ui/decisions/x"):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/sign-in")
    page = client.get("/ui/sign-in")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
    # Without the form's token: refused, even with a good key.
    r = client.post("/ui/sign-in", data={"key": "of-1", "name": "Pat"})
    assert r.status_code == 403 and "/ui/score" not in r.headers.get("location", "")
    # A scoring key is not a workbench key.
    r = client.post(
        "/ui/sign-in", data={"csrf_token": csrf(page.text), "key": "key-one", "name": "Pat"}
    )
    assert r.status_code == 401
    token = sign_in(client, "of-1")
    # A tampered cookie is no session.
    client.cookies.set("cs_session", client.cookies["cs_session"][:-2] + "xx", path="/ui")
    assert client.get("/ui/score").status_code == 303
    assert token


def test_officer_scores_reviews_and_the_auditor_reads(
    client: TestClient, settings: Settings, schema: FeatureSchema
) -> None:
    token = sign_in(client, "of-1", "Olivia")
    bad = client.post("/ui/score", data={"csrf_token": token, "duration_in_month": "abc"})
    assert bad.status_code == 422 and "Enter a whole number" in bad.text
    decision_id = score_in_ui(client, token, example_application(schema))
    history = open_ledger(settings).get(decision_id)
    assert history is not None and history.decision.body["channel"] == "ui"
    page = client.get(f"/ui/decisions/{decision_id}")
    assert page.status_code == 200 and "Points gained and lost per feature" in page.text
    # The review form needs the session's token.
    form = {"final_decision": "approve", "reason": "Verified income"}
    assert client.post(f"/ui/decisions/{decision_id}/review", data=form).status_code == 403
    r = client.post(f"/ui/decisions/{decision_id}/review", data={"csrf_token": token, **form})
    assert r.status_code == 303
    history = open_ledger(settings).get(decision_id)
    assert history is not None and history.final_decision == "approve"
    assert history.reviews[0].body["reviewer"] == "Olivia"
    # API: the auditor reads the whole record; an officer key may not.
    assert client.get(f"/v1/decisions/{decision_id}", headers=OFFICER).status_code == 401
    body = client.get(f"/v1/decisions/{decision_id}", headers=AUDITOR).json()
    assert body["final_decision"] == "approve" and body["reviews"][0]["reason"] == "Verified income"
    assert body["decision"]["inputs"] == history.decision.body["inputs"]
    assert client.get("/v1/decisions/nope", headers=ADMIN).status_code == 404
    # The auditor's session may read but not score or review.
    client.cookies.clear()
    token = sign_in(client, "au-1", "Ada")
    assert client.get("/ui/score").status_code == 403
    r = client.post(f"/ui/decisions/{decision_id}/review", data={"csrf_token": token, **form})
    assert r.status_code == 403
    assert client.get(f"/ui/decisions/{decision_id}").status_code == 200


def test_review_api_notice_and_override_metrics(
    client: TestClient, settings: Settings, schema: FeatureSchema
) -> None:
    token = sign_in(client, "of-1")
    decision_id = score_in_ui(client, token, example_application(schema))
    band = open_ledger(settings).get(decision_id).decision.body["decision"]  # type: ignore[union-attr]
    assert band == "review"  # the example applicant, as the tiny model scores it
    review = {"final_decision": "decline", "reviewer": "Olivia", "reason": "Debts elsewhere"}
    assert (
        client.post(f"/v1/decisions/{decision_id}/review", json=review, headers=AUDITOR).status_code
        == 401
    )
    r = client.post(f"/v1/decisions/{decision_id}/review", json=review, headers=OFFICER)
    assert r.status_code == 201, r.text
    assert r.json()["original_decision"] == band and r.json()["seq"] >= 2
    bad = client.post(
        f"/v1/decisions/{decision_id}/review",
        json={**review, "final_decision": "maybe"},
        headers=OFFICER,
    )
    assert bad.status_code == 422
    assert client.post("/v1/decisions/nope/review", json=review, headers=OFFICER).status_code == 404
    notice = client.get(f"/v1/decisions/{decision_id}/notice", headers=AUDITOR)
    assert notice.status_code == 200 and "Debts elsewhere" in notice.text
    metrics = client.get("/metrics").text
    assert 'credit_scoring_override_rate{band="review",model_version="1"} 1.0' in metrics
    assert 'credit_scoring_decision_overrides_total{band="review",model_version="1"} 1.0' in metrics


def test_counterfactual_api(client: TestClient, schema: FeatureSchema) -> None:
    app = example_application(schema)
    r = client.post("/v1/counterfactual", json=app, headers=SCORING)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["available"] and body["exact"] and body["model_version"] == "1"
    for s in body["suggestions"]:
        changed = {**app, **{c["feature"]: c["suggested"] for c in s["changes"]}}
        again = client.post("/v1/score", json=changed, headers=SCORING).json()
        assert again["probability"] == pytest.approx(s["probability"])
        assert not {c["feature"] for c in s["changes"]} & schema.unchangeable
    bad = client.post("/v1/counterfactual", json={**app, "duration_in_month": 0}, headers=SCORING)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == [
        "body",
        "duration_in_month",
    ]
    assert client.post("/v1/counterfactual", json=app).status_code == 401


def test_a_removed_key_ends_its_sessions_and_a_changed_role_applies(
    settings_factory: Callable[..., Settings], make_source: Callable[..., Any]
) -> None:
    """Sessions are bound to their key: after a rollout without it, the cookie signs nobody in."""
    common = {"reload_interval_s": 60, "ui_session_secret": "shared-secret-of-the-replicas"}
    first = settings_factory(officer_api_keys="of-1,of-2", auditor_api_keys="au-1", **common)
    with TestClient(create_app(first, source_factory=lambda: make_source("1"))) as c:
        c.follow_redirects = False
        sign_in(c, "of-1", "Olivia")
        assert c.get("/ui/score").status_code == 200
        officer_cookie = c.cookies["cs_session"]
        c.cookies.clear()
        sign_in(c, "of-2", "Otto")
        moved_cookie = c.cookies["cs_session"]
    # The next rollout: of-1 removed, of-2 now an auditor key.
    second = settings_factory(officer_api_keys="of-3", auditor_api_keys="au-1,of-2", **common)
    with TestClient(create_app(second, source_factory=lambda: make_source("1"))) as c:
        c.follow_redirects = False
        c.cookies.set("cs_session", officer_cookie, path="/ui")
        r = c.get("/ui/score")
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/sign-in")
        c.cookies.clear()
        c.cookies.set("cs_session", moved_cookie, path="/ui")
        assert c.get("/ui/score").status_code == 403  # an auditor now: reads, does not score
        assert c.get("/ui/lookup").status_code == 200


def test_failed_sign_ins_lock_the_address_out(
    settings_factory: Callable[..., Settings], make_source: Callable[..., Any]
) -> None:
    settings = settings_factory(
        reload_interval_s=60, officer_api_keys="of-1", ui_sign_in_max_failures=3
    )
    with TestClient(create_app(settings, source_factory=lambda: make_source("1"))) as c:
        c.follow_redirects = False

        def attempt(key: str) -> Any:
            token = csrf(c.get("/ui/sign-in").text)
            return c.post("/ui/sign-in", data={"csrf_token": token, "key": key, "name": "Eve"})

        assert [attempt(f"guess-{i}").status_code for i in range(3)] == [401, 401, 401]
        locked = attempt("of-1")  # even the right key, while locked
        assert locked.status_code == 429, locked.text
        assert "Too many failed sign-ins" in locked.text
        assert 0 < int(locked.headers["retry-after"]) <= 15 * 60 + 1
        assert c.get("/ui/score").status_code == 303  # not signed in


def test_sign_in_throttle_window() -> None:
    from credit_scoring.workbench.session import SignInThrottle

    now = [0.0]
    throttle = SignInThrottle(2, 60.0, clock=lambda: now[0], max_clients=2)
    assert not throttle.failed("a")
    now[0] = 50.0
    assert throttle.failed("a") and throttle.locked_for("a") == pytest.approx(10.0)
    now[0] = 61.0  # the first failure left the window
    assert throttle.locked_for("a") == 0.0
    throttle.failed("b")
    throttle.failed("c")  # a third address: the least recent one is forgotten
    assert throttle.locked_for("a") == 0.0 and len(throttle._failures) == 2
    throttle.failed("c")
    assert throttle.locked_for("c") > 0
    throttle.succeeded("c")
    assert throttle.locked_for("c") == 0.0
