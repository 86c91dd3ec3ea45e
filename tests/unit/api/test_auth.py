"""API keys: required unless disabled, read from env or files, checked for every key."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import HTTPException

from credit_scoring.api.auth import AuthConfigError, KeyChecker
from credit_scoring.config import Settings

pytestmark = pytest.mark.unit


def test_refuses_to_start_without_keys(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="CREDIT_SCORING_API_KEYS"):
        KeyChecker(Settings(home=tmp_path))


def test_auth_disabled_accepts_anything(tmp_path: Path) -> None:
    checker = KeyChecker(Settings(home=tmp_path, auth_disabled=True))
    checker.check_scoring(None)
    checker.check_admin(None)


def test_scoring_and_admin_keys_are_separate(tmp_path: Path) -> None:
    checker = KeyChecker(Settings(home=tmp_path, api_keys=" a-key , b-key ", admin_api_key="adm"))
    checker.check_scoring("a-key")
    checker.check_scoring("b-key")
    checker.check_scoring("adm")  # the admin may also score
    checker.check_admin("adm")
    for bad in (None, "", "a-ke", "a-key ", "c-key"):
        with pytest.raises(HTTPException) as info:
            checker.check_scoring(bad)
        assert info.value.status_code == 401
    with pytest.raises(HTTPException) as info:
        checker.check_admin("a-key")
    assert info.value.status_code == 401


def test_admin_disabled_without_admin_key(tmp_path: Path) -> None:
    checker = KeyChecker(Settings(home=tmp_path, api_keys="k"))
    with pytest.raises(HTTPException) as info:
        checker.check_admin("k")
    assert info.value.status_code == 403


def test_keys_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "keys").write_text("file-key-1,file-key-2\n", encoding="utf-8")
    (tmp_path / "admin").write_text("file-admin\n", encoding="utf-8")
    monkeypatch.setenv("CREDIT_SCORING_API_KEYS_FILE", str(tmp_path / "keys"))
    monkeypatch.setenv("CREDIT_SCORING_ADMIN_API_KEY_FILE", str(tmp_path / "admin"))
    checker = KeyChecker(Settings(home=tmp_path))
    checker.check_scoring("file-key-2")
    checker.check_admin("file-admin")


def test_missing_key_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_SCORING_API_KEYS_FILE", str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="nope"):
        Settings(home=tmp_path)
