"""Workbench sessions: a signed cookie carrying the role, and CSRF tokens for every form.

The cookie (``cs_session``) is signed with ``CREDIT_SCORING_UI_SESSION_SECRET`` (itsdangerous,
timestamped: it expires after ``ui_session_hours``), ``HttpOnly``, ``SameSite=Strict``, scoped
to ``/ui`` and ``Secure`` over HTTPS. It holds the role and a per-session CSRF token, never the
key. Every POST form carries the token in a hidden field and is refused (403) unless it equals
the session's (synchronizer token pattern); the sign-in form too, with the token of an anonymous
session issued when the form is shown. Signing in issues a fresh token (no session fixation).
Without a configured secret a random one is drawn when the app is built: sessions then end when
the API restarts and do not carry over between replicas.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from credit_scoring.api.roles import Role, allows
from credit_scoring.config import Settings

COOKIE = "cs_session"
PATH = "/ui"
_SALT = "credit-scoring-workbench"


@dataclass(frozen=True)
class Session:
    """One browser's session: its role once signed in (None before) and its CSRF token."""

    csrf: str
    role: Role | None = None
    name: str = ""

    def can(self, needed: Role) -> bool:
        return allows(self.role, needed)


class Sessions:
    """Reads and writes the signed session cookie."""

    def __init__(self, settings: Settings) -> None:
        secret = (
            settings.ui_session_secret.get_secret_value()
            if settings.ui_session_secret
            else secrets.token_urlsafe(32)
        )
        self._signer = URLSafeTimedSerializer(secret, salt=_SALT)
        self.max_age = int(settings.ui_session_hours * 3600)

    def load(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data: dict[str, Any] = self._signer.loads(raw, max_age=self.max_age)
            return Session(csrf=str(data["csrf"]), role=data.get("role"), name=data.get("name", ""))
        except (BadSignature, KeyError, TypeError):
            return None

    @staticmethod
    def new(role: Role | None = None, name: str = "") -> Session:
        return Session(csrf=secrets.token_urlsafe(24), role=role, name=name)

    def save(self, request: Request, response: Response, session: Session) -> None:
        value = self._signer.dumps(
            {"csrf": session.csrf, "role": session.role, "name": session.name}
        )
        response.set_cookie(
            COOKIE,
            value,
            max_age=self.max_age,
            path=PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def clear(response: Response) -> None:
        response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict")


def csrf_ok(session: Session | None, form: dict[str, str]) -> bool:
    """True when the form's token equals the session's (constant-time)."""
    given = form.get("csrf_token", "")
    return session is not None and bool(given) and hmac.compare_digest(given, session.csrf)
