"""API-key authentication: scoring, officer, auditor and admin keys, compared in constant time.

Keys come from :class:`~credit_scoring.config.Settings` (``CREDIT_SCORING_API_KEYS``,
``CREDIT_SCORING_OFFICER_API_KEYS``, ``CREDIT_SCORING_AUDITOR_API_KEYS``,
``CREDIT_SCORING_ADMIN_API_KEY`` or their ``_FILE`` variants; roles in
:mod:`credit_scoring.api.roles`: officers may also score, the admin may do everything). Without
any scoring key the API refuses to start unless ``CREDIT_SCORING_AUTH_DISABLED=true``. Keys are
never logged.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import HTTPException, status
from fastapi.security import APIKeyHeader

from credit_scoring.api.roles import Role, RoleKeys, allows
from credit_scoring.config import Settings

logger = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"

# Reads the header and documents the scheme in OpenAPI; checking is done by :class:`KeyChecker`
# (dependencies in :mod:`credit_scoring.api.deps`).
api_key_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, scheme_name="ApiKey")


class AuthConfigError(RuntimeError):
    """The API is configured without keys and auth is not explicitly disabled."""


def _matches(candidate: str, keys: list[bytes]) -> bool:
    """True when ``candidate`` equals one of ``keys``; checks every key to keep timing flat."""
    given = candidate.encode("utf-8")
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key)
    return found


class KeyChecker:
    """Holds the configured keys and answers whether a presented key is valid."""

    def __init__(self, settings: Settings) -> None:
        self.disabled = settings.auth_disabled
        self._scoring = [
            k.encode("utf-8") for k in (*settings.api_key_list(), *settings.officer_key_list())
        ]
        self.roles = RoleKeys(settings)
        admin = settings.admin_api_key.get_secret_value().strip() if settings.admin_api_key else ""
        self._admin = [admin.encode("utf-8")] if admin else []
        if not self.disabled and not self._scoring:
            raise AuthConfigError(
                "no API key configured: set CREDIT_SCORING_API_KEYS (comma-separated) or "
                "CREDIT_SCORING_API_KEYS_FILE, or set CREDIT_SCORING_AUTH_DISABLED=true for "
                "local use only"
            )
        if self.disabled:
            logger.warning("authentication is DISABLED: every caller may score and reload")

    @property
    def admin_configured(self) -> bool:
        return bool(self._admin)

    def check_scoring(self, presented: str | None) -> None:
        """Raise 401 unless ``presented`` is a scoring key (or the admin key)."""
        if self.disabled:
            return
        if not presented or not _matches(presented, self._scoring + self._admin):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail=f"missing or invalid API key (header {API_KEY_HEADER})",
                headers={"WWW-Authenticate": "ApiKey"},
            )

    def check_role(self, presented: str | None, *roles: Role) -> None:
        """Raise 401 unless ``presented`` is a key of one of ``roles`` (or the admin key)."""
        if self.disabled:
            return
        role = self.roles.role_of(presented)
        if not any(allows(role, needed) for needed in roles):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail=f"missing or invalid {' or '.join(roles)} API key (header {API_KEY_HEADER})",
                headers={"WWW-Authenticate": "ApiKey"},
            )

    def check_admin(self, presented: str | None) -> None:
        """Raise 401 unless ``presented`` is the admin key; 403 when no admin key is set."""
        if self.disabled:
            return
        if not self._admin:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail="admin endpoints are disabled: CREDIT_SCORING_ADMIN_API_KEY is not set",
            )
        if not presented or not _matches(presented, self._admin):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail=f"missing or invalid admin API key (header {API_KEY_HEADER})",
                headers={"WWW-Authenticate": "ApiKey"},
            )
