"""The C device skeleton built with authenticated mode (-DNMP1_DEVICE_AUTH, its
receive path through protocols/c/nmp1_auth.c) passes the conformance suite, the
checks of section 10 included, run with its key."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.c.cbuild import C_DIR, EXAMPLES, HARNESS, STRICT, compiler, run
from tests.c.test_device import CONFORMANCE_TIMEOUT_S, Served
from tests.cli.helpers import massager

KEY = bytes(range(32)).hex()


@pytest.fixture(scope="module")
def auth_harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("device_auth") / "nmp1_posix_auth"
    run([compiler(), *STRICT, "-O2", "-DNMP1_DEVICE_AUTH", f"-I{C_DIR}", f"-I{EXAMPLES}",
         *HARNESS, C_DIR / "nmp1_auth.c", "-o", out])  # fmt: skip
    return out


@pytest.fixture(params=["--pty", "--tcp"])
def served(request: pytest.FixtureRequest, auth_harness: Path) -> Iterator[Served]:
    link = ["--pty"] if request.param == "--pty" else ["--tcp", "127.0.0.1:0"]
    device = Served(auth_harness, *link, "--key", KEY)
    try:
        yield device
    finally:
        device.stop()


def test_the_skeleton_in_authenticated_mode_passes_conformance_with_its_key(
    served: Served,
) -> None:
    result = massager(
        "conformance", "--device", served.url, "--key", KEY, "--json",
        timeout=CONFORMANCE_TIMEOUT_S + 30,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    auth = {r["name"]: r for r in lines if r["section"].startswith("10")}
    untested = {name for name, r in auth.items() if not r["tested"]}
    # one host at a time on either link: no second link's nonce to compare
    assert untested == {n for n in auth if "refused on another" in n}, untested
    assert all(r["passed"] for r in auth.values() if r["tested"]), auth
    assert len(auth) - len(untested) >= 8


def test_without_the_key_its_state_changes_are_refused(served: Served) -> None:
    result = massager("conformance", "--device", served.url, "--json", timeout=120)
    assert result.returncode == 1
    lines = {json.loads(line)["name"]: json.loads(line) for line in result.stdout.splitlines()}
    unsigned = next(r for n, r in lines.items() if n.startswith("unsigned state changes"))
    assert unsigned["passed"] and unsigned["tested"]
    output = next(r for n, r in lines.items() if n.startswith("SET_OUTPUT drives"))
    assert "NOT_AUTHENTICATED" in output["detail"]


def test_a_key_that_is_not_64_hex_digits_stops_the_harness(auth_harness: Path) -> None:
    done = subprocess.run(
        [str(auth_harness), "--pty", "--key", "12"], capture_output=True, text=True, timeout=10
    )
    assert done.returncode == 2 and "64 hexadecimal digits" in done.stderr
