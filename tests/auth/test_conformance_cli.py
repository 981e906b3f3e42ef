"""``massager conformance --key`` on the real console script, against the embedded
simulator in authenticated mode."""

from __future__ import annotations

import json

from massager_simulator.auth import label_secret

from tests.cli.helpers import massager

URL = "sim://heat4-auth"


def test_with_the_label_key_every_check_runs_signed_and_passes() -> None:
    key = label_secret("H4A-000001").hex()
    result = massager("conformance", "--device", URL, "--key", key, "--json", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    # heat4-auth is not built for test: the faults come from the embedded bench, and
    # leaving test mode is the one check that cannot be run.
    untested = [r for r in lines if not r["tested"]]
    assert [r["section"] for r in untested] == ["12.1"], untested
    assert "not built for test" in untested[0]["detail"]
    failed = [r for r in lines if r["tested"] and not r["passed"]]
    assert not failed, failed
    sections = {r["section"].split(",")[0] for r in lines}
    assert {"10.1", "10.2", "10.3", "10.4"} <= sections
    assert key not in result.stdout + result.stderr  # the key is never shown


def test_a_key_that_is_not_64_hex_digits_is_refused_before_anything_runs() -> None:
    result = massager("conformance", "--device", URL, "--key", "12ab", timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--key: a device secret is 32 bytes (64 hex digits); this one has 2 bytes" in (
        result.stderr
    )
    assert result.stdout == ""
