"""``make demo`` (``python -m massager_sdk.demo``) runs again at once and leaves the
user's own health profile and session ledger alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_the_demo_runs_twice_in_a_row_and_touches_nothing_of_the_user_s(tmp_path: Path) -> None:
    ledger, profile = tmp_path / "my-ledger.sqlite3", tmp_path / "my-profile.toml"
    env = {**os.environ, "MASSAGER_LEDGER": str(ledger), "MASSAGER_HEALTH_PROFILE": str(profile)}
    for _ in range(2):  # a session of its own leaves no rest period behind
        # Extra arguments go to `massager run`: the last --speed wins, for a short test.
        result = subprocess.run(
            [sys.executable, "-m", "massager_sdk.demo", "--speed", "1000"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "classic: completed; device stopped" in result.stdout
    assert not ledger.exists() and not profile.exists()
