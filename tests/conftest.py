"""Fixtures for every test."""

from __future__ import annotations

from pathlib import Path

import pytest

from massager_sdk import keys
from massager_sdk.keys import KEYS_FILE_ENV
from massager_sdk.safety.ledger import LEDGER_ENV
from massager_sdk.safety.profile import HEALTH_PROFILE_ENV, PROFILE_ENV


@pytest.fixture(autouse=True)
def _private_ledger(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test gets its own session ledger, never the user's (child processes inherit it)."""
    home = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    path = home / "ledger.sqlite3"
    monkeypatch.setenv(LEDGER_ENV, str(path))
    return path


@pytest.fixture(autouse=True)
def _acknowledged_profile(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test runs as a person who acknowledged the safety warning and lists no
    contraindications (a test about profiles sets its own), never the user's profile."""
    path = tmp_path_factory.mktemp("config") / "profile.toml"
    path.write_text("acknowledged = true\n")
    monkeypatch.setenv(HEALTH_PROFILE_ENV, str(path))
    monkeypatch.delenv(PROFILE_ENV, raising=False)  # the old name, read when the new is unset
    return path


@pytest.fixture(autouse=True)
def _private_keys(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test gets its own device key store, never the user's, and no key another
    test made known in memory."""
    path = tmp_path_factory.mktemp("keys") / "keys.toml"
    monkeypatch.setenv(KEYS_FILE_ENV, str(path))
    monkeypatch.setattr(keys, "_memory", {})
    monkeypatch.setattr(keys, "_unbound", [])
    return path
