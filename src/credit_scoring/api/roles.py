"""Roles of API keys: scoring, officer, auditor and admin.

* scoring: score applications (``CREDIT_SCORING_API_KEYS``);
* officer: score, ask what would change a decision, review decisions
  (``CREDIT_SCORING_OFFICER_API_KEYS``);
* auditor: read decisions, their explanations, reviews and notices
  (``CREDIT_SCORING_AUDITOR_API_KEYS``);
* admin: everything (``CREDIT_SCORING_ADMIN_API_KEY``).

Every variable has a ``_FILE`` variant (secrets from files). Keys are compared in constant time
against every configured key, so the answer's timing does not tell which role a key has.
"""

from __future__ import annotations

import hmac
from typing import Literal

from credit_scoring.config import Settings

Role = Literal["scoring", "officer", "auditor", "admin"]
ROLES: tuple[Role, ...] = ("scoring", "officer", "auditor", "admin")
#: What each role may do besides its own name (admin may do everything).
_GRANTS: dict[Role, frozenset[Role]] = {
    "scoring": frozenset({"scoring"}),
    "officer": frozenset({"officer", "scoring"}),
    "auditor": frozenset({"auditor"}),
    "admin": frozenset(ROLES),
}


class RoleKeys:
    """The configured keys of every role; answers which role a presented key has."""

    def __init__(self, settings: Settings) -> None:
        admin = settings.admin_api_key.get_secret_value().strip() if settings.admin_api_key else ""
        by_role: list[tuple[list[str], Role]] = [
            (settings.api_key_list(), "scoring"),
            (settings.officer_key_list(), "officer"),
            (settings.auditor_key_list(), "auditor"),
            ([admin] if admin else [], "admin"),
        ]
        self._keys = [(k.encode("utf-8"), role) for keys, role in by_role for k in keys]

    def items(self) -> list[tuple[bytes, Role]]:
        """Every configured key with its role (a key listed twice appears twice)."""
        return list(self._keys)

    def configured(self, role: Role) -> bool:
        return any(r == role for _, r in self._keys)

    def role_of(self, presented: str | None) -> Role | None:
        """The role of ``presented`` (the strongest if a key is listed twice), else None."""
        if not presented:
            return None
        given = presented.encode("utf-8")
        found: Role | None = None
        for key, role in self._keys:  # no early exit: constant time over the configured keys
            if hmac.compare_digest(given, key) and (found is None or allows(role, found)):
                found = role
        return found


def allows(role: Role | None, needed: Role) -> bool:
    """True when a key of ``role`` may do what ``needed`` may."""
    return role is not None and needed in _GRANTS[role]
