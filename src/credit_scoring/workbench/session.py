"""Workbench sessions: a signed cookie carrying the role, and CSRF tokens for every form.

The cookie (``cs_session``) is signed with ``CREDIT_SCORING_UI_SESSION_SECRET`` (itsdangerous,
timestamped: it expires after ``ui_session_hours``), ``HttpOnly``, ``SameSite=Strict``, scoped
to ``/ui`` and ``Secure`` over HTTPS. It holds the role and a per-session CSRF token, never the
key. Every POST form carries the token in a hidden field and is refused (403) unless it equals
the session's (synchronizer token pattern); the sign-in form too, with the token of an anonymous
session issued when the form is shown. Signing in issues a fresh token (no session fixation).
Without a configured secret a random one is drawn when the app is built: sessions then end when
the API restarts and do not carry over between replicas.

A session is bound to the key it signed in with, not only to a role: the cookie carries the
key's id (an HMAC-SHA256 of the key under the session secret, so it tells nothing about the key)
and every request looks that id up among the keys configured *now*. Removing or rotating a key
(the settings are read when the API starts: a rollout) ends the sessions opened with it at once,
not when their cookie expires; changing a key's role changes what its sessions may do.

Failed sign-ins are throttled per client address (:class:`SignInThrottle`): after
``ui_sign_in_max_failures`` within ``ui_sign_in_lockout_minutes`` the address gets 429 until the
window has passed. The count lives in the process (per replica); behind a proxy the address is
the one uvicorn reports (``--proxy-headers`` with ``--forwarded-allow-ips`` makes it the client's).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from credit_scoring.api.roles import Role, RoleKeys, allows
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
    #: Id of the key signed in with (see the module docstring); "" before sign-in.
    kid: str = ""

    def can(self, needed: Role) -> bool:
        return allows(self.role, needed)


class Sessions:
    """Reads and writes the signed session cookie."""

    def __init__(self, settings: Settings, keys: RoleKeys) -> None:
        secret = (
            settings.ui_session_secret.get_secret_value()
            if settings.ui_session_secret
            else secrets.token_urlsafe(32)
        )
        self._secret = secret.encode("utf-8")
        self._signer = URLSafeTimedSerializer(secret, salt=_SALT)
        self.max_age = int(settings.ui_session_hours * 3600)
        self._roles: dict[str, Role] = {}
        for key, role in keys.items():
            kid = self._kid(key)
            known = self._roles.get(kid)
            if known is None or allows(role, known):  # a key listed twice: its strongest role
                self._roles[kid] = role

    def _kid(self, key: bytes) -> str:
        return hmac.new(self._secret, key, hashlib.sha256).hexdigest()[:32]

    def load(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data: dict[str, Any] = self._signer.loads(raw, max_age=self.max_age)
            kid = str(data.get("kid", ""))
            # The key's role now: None once the key is no longer configured (signed out).
            role = self._roles.get(kid) if kid else None
            return Session(
                csrf=str(data["csrf"]),
                role=role,
                name=data.get("name", "") if role else "",
                kid=kid if role else "",
            )
        except (BadSignature, KeyError, TypeError):
            return None

    @staticmethod
    def new() -> Session:
        """An anonymous session (a CSRF token for the sign-in form)."""
        return Session(csrf=secrets.token_urlsafe(24))

    def signed_in(self, key: str, role: Role, name: str) -> Session:
        """A fresh session (new CSRF token: no fixation) bound to ``key``."""
        return Session(
            csrf=secrets.token_urlsafe(24),
            role=role,
            name=name,
            kid=self._kid(key.encode("utf-8")),
        )

    def save(self, request: Request, response: Response, session: Session) -> None:
        value = self._signer.dumps({"csrf": session.csrf, "kid": session.kid, "name": session.name})
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


class SignInThrottle:
    """Counts failed sign-ins per client address in a sliding window; locks an address out.

    Used from the event loop only (no lock). At most ``max_clients`` addresses are tracked; the
    least recently failed are forgotten first, so a flood of addresses cannot exhaust memory.
    """

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._max_clients = max_clients
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(client, []) if now - t < self.window_s]
        if times:
            self._failures[client] = times
        else:
            self._failures.pop(client, None)
        return times

    def locked_for(self, client: str) -> float:
        """Seconds ``client`` must still wait (0: it may try)."""
        now = self._clock()
        times = self._recent(client, now)
        if len(times) < self.max_failures:
            return 0.0
        return max(times[-self.max_failures] + self.window_s - now, 0.0)

    def failed(self, client: str) -> bool:
        """Count a failure; True when it locks the address out."""
        now = self._clock()
        times = [*self._recent(client, now), now]
        self._failures[client] = times
        self._failures.move_to_end(client)
        while len(self._failures) > self._max_clients:
            self._failures.popitem(last=False)
        return len(times) >= self.max_failures

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
