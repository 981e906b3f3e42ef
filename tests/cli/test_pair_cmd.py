"""``massager pair`` and ``massager unpair`` on the real console script.

The embedded ``sim://heat4-auth`` has no button a command line can hold, so these
pair with its label's secret; pairing through the button window is tested through
the API in tests/auth. The key file is the test's own (tests/conftest.py).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

from massager_simulator.auth import label_secret

from tests.cli.helpers import massager

URL = "sim://heat4-auth"
LABEL = label_secret("H4A-000001").hex()


def test_pair_with_the_label_then_drive_then_unpair(
    _private_keys: Path, profile_env: dict[str, str]
) -> None:
    refused = massager("set", "--device", URL, "--intensity", "2", "--for", "1s", env=profile_env)
    assert refused.returncode == 3
    assert "this device requires pairing: hold its button for 5 s, then run `massager pair`" in (
        refused.stderr
    )
    paired = massager("pair", "--device", URL, "--label", "--json", stdin=LABEL + "\n")
    assert paired.returncode == 0, paired.stderr
    assert json.loads(paired.stdout) == {
        "paired": True,
        "serial": "H4A-000001",
        "model": "NMP Heat 4",
        "how": "label",
    }
    assert LABEL not in paired.stdout + paired.stderr
    assert stat.S_IMODE(_private_keys.stat().st_mode) == 0o600
    driven = massager(
        "set", "--device", URL, "--intensity", "2", "--for", "1s", "--speed", "20", env=profile_env
    )
    assert driven.returncode == 0, driven.stderr
    forgotten = massager("unpair", "--device", URL, "--json")
    assert json.loads(forgotten.stdout) == {"serial": "H4A-000001", "forgotten": True}


def test_pair_without_the_window_or_with_a_wrong_label_says_what_to_do() -> None:
    closed = massager("pair", "--device", URL)
    assert closed.returncode != 0
    assert "is not open: hold its button for 5 s, then run `massager pair`" in closed.stderr
    wrong = massager("pair", "--device", URL, "--label", stdin="00" * 32 + "\n")
    assert wrong.returncode != 0 and "that secret is not the key of" in wrong.stderr
    plain = massager("pair", "--device", "sim://heat4")
    assert plain.returncode != 0 and "does not use authenticated mode" in plain.stderr
