"""Roles of keys: each key's role, admin may do everything, keys from files."""

from __future__ import annotations

from pathlib import Path

import pytest

from credit_scoring.api.roles import RoleKeys, allows
from credit_scoring.config import Settings

pytestmark = pytest.mark.unit


def test_role_of_each_key_and_what_it_allows(tmp_path: Path) -> None:
    officer_file = tmp_path / "officers"
    officer_file.write_text("of-1, of-2\n", encoding="utf-8")
    keys = RoleKeys(
        Settings(
            home=tmp_path,
            api_keys="sc-1",
            officer_api_keys_file=str(officer_file),
            auditor_api_keys="au-1",
            admin_api_key="ad-1",
        )
    )
    assert [keys.role_of(k) for k in ("sc-1", "of-2", "au-1", "ad-1")] == [
        "scoring",
        "officer",
        "auditor",
        "admin",
    ]
    assert keys.role_of("of-3") is None and keys.role_of("") is None and keys.role_of(None) is None
    assert allows("admin", "officer") and allows("admin", "auditor") and allows("admin", "scoring")
    assert allows("officer", "scoring") and not allows("officer", "auditor")
    assert not allows("auditor", "officer") and not allows("scoring", "officer")
    assert not allows(None, "scoring")
    assert keys.configured("auditor")
