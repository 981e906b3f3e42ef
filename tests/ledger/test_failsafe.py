"""A ledger that cannot be used starts no session, and says what to do; retention is bounded."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from massager_sdk.errors import SafetyRefusal
from massager_sdk.safety import Limit, SafetyPolicy
from massager_sdk.safety.ledger import RETENTION_ENV, Ledger, LedgerError
from tests.cli.conftest import Served
from tests.cli.helpers import massager
from tests.safety.devices import heat_device


def refused_everything(policy: SafetyPolicy) -> SafetyRefusal:
    with pytest.raises(SafetyRefusal) as err:
        policy.check_output(0, 1, now=0.0)
    assert err.value.limit == Limit.LEDGER and err.value.allowed is None
    with pytest.raises(SafetyRefusal) as heat:
        policy.check_heat(40.0, now=0.0)
    assert heat.value.limit == Limit.LEDGER
    assert policy.snapshot(0.0).heat_allowed is False
    return err.value


def test_a_corrupt_ledger_refuses_every_session(_private_ledger: Path) -> None:
    _private_ledger.write_bytes(b"this is not a database\n" * 200)
    refusal = refused_everything(SafetyPolicy(heat_device()))
    message = str(refusal)
    assert str(_private_ledger) in message
    assert "move the file aside" in message and "MASSAGER_LEDGER" in message


@contextlib.contextmanager
def read_only_folder(path: Path) -> Iterator[Path]:
    """A folder nobody may write to: a read-only mount for root, permissions otherwise."""
    path.mkdir()
    if os.geteuid() == 0:  # root writes through permission bits
        mount = ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)]
        if subprocess.run(mount, capture_output=True, check=False).returncode != 0:
            yield Path("/proc/massager")  # no mounting here: /proc is read-only for root too
            return
        try:
            yield path
        finally:
            subprocess.run(["umount", str(path)], check=True)
    else:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)


def test_a_read_only_folder_refuses_every_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with read_only_folder(tmp_path / "ro") as folder:
        where = folder / "ledger.sqlite3"
        monkeypatch.setenv("MASSAGER_LEDGER", str(where))
        refusal = refused_everything(SafetyPolicy(heat_device()))
        assert "make its folder writable" in str(refusal)
        with pytest.raises(LedgerError):
            Ledger(where)


def test_the_command_line_refuses_with_a_corrupt_ledger(
    _private_ledger: Path, tmp_path: Path
) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text("acknowledged = true\n")
    _private_ledger.write_bytes(b"\x00garbage" * 500)
    device = Served()
    try:
        env = {"MASSAGER_HEALTH_PROFILE": str(profile)}
        result = massager("set", "--device", device.url, "--intensity", "2", "--for", "1s", env=env)
        assert result.returncode == 4, result.stderr
        assert "session ledger" in result.stderr and "move the file aside" in result.stderr
        status = massager("status", "--device", device.url, "--json")
        assert status.returncode == 0, status.stderr
        state = json.loads(status.stdout)
        assert state["intensities"] == [0, 0, 0, 0] and state["heat_target_c"] is None
    finally:
        device.stop()


def test_retention_removes_old_history(
    _private_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    with Ledger(_private_ledger) as ledger:
        old = ledger.start_session("M/1", "M", now - 10 * 86400)
        ledger.add_sample(old, now - 10 * 86400, [1], None, None)
        ledger.add_event("M/1", old, now - 10 * 86400, "refusal", "x")
        recent = ledger.start_session("M/1", "M", now - 86400)
    monkeypatch.setenv(RETENTION_ENV, "5")
    with Ledger(_private_ledger) as ledger:
        assert ledger.retention_days == 5
        assert [r.id for r in ledger.sessions()] == [recent]
        assert ledger.samples(old) == [] and ledger.events(old) == []
    with Ledger(_private_ledger, retention_days=0.5) as ledger:
        assert ledger.sessions() == []


@pytest.mark.parametrize("value", ["0", "-3", "forever"])
def test_a_bad_retention_setting_is_refused(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RETENTION_ENV, value)
    with pytest.raises(LedgerError, match="MASSAGER_LEDGER_RETENTION_DAYS"):
        Ledger()
    refused_everything(SafetyPolicy(heat_device()))


def test_the_path_comes_from_the_argument_then_the_environment_then_xdg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from massager_sdk.safety.ledger import default_ledger_path

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("MASSAGER_LEDGER")
    assert default_ledger_path() == tmp_path / "state" / "massager" / "ledger.sqlite3"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_ledger_path() == tmp_path / "home/.local/state/massager/ledger.sqlite3"
    monkeypatch.setenv("MASSAGER_LEDGER", str(tmp_path / "env.sqlite3"))
    assert default_ledger_path() == tmp_path / "env.sqlite3"
    with Ledger(tmp_path / "arg.sqlite3") as ledger:
        assert ledger.path == tmp_path / "arg.sqlite3"
    assert (tmp_path / "arg.sqlite3").exists() and not (tmp_path / "env.sqlite3").exists()


def test_a_ledger_that_fails_during_a_session_stops_the_outputs(_private_ledger: Path) -> None:
    from massager_sdk.model import DeviceStatus

    ledger = Ledger(_private_ledger)
    policy = SafetyPolicy(heat_device(sensor=False), ledger=ledger)
    policy.outputs_changed([1, 0, 0, 0], 40.0, now=0.0)
    assert policy.required_actions(1.0) == []
    ledger.close()  # from here on every write fails, as on a full disk
    report = DeviceStatus((1, 0, 0, 0), 40.0, 35.0, None, None, False, 0, frozenset())
    policy.observe_status(report, now=2.0)
    [action] = policy.required_actions(2.0)
    assert action.kind == "stop_all" and "session ledger" in action.reason
    policy.outputs_changed([0, 0, 0, 0], None, now=2.5)
    with pytest.raises(SafetyRefusal) as err:
        policy.resume(3.0)
        policy.check_output(0, 1, now=3.0)
    assert err.value.limit == Limit.LEDGER


def test_a_damaged_row_is_a_ledger_error_not_a_crash(_private_ledger: Path) -> None:
    import sqlite3

    from massager_sdk.model import DeviceStatus

    host_policy = SafetyPolicy(heat_device(sensor=False))
    host_policy.outputs_changed([1, 0, 0, 0], None, now=0.0)
    with sqlite3.connect(_private_ledger) as db:
        db.execute("UPDATE sessions SET peak_levels = 'not json'")
    # The status goes with the process's next batch; the batch cannot be written (the
    # row it updates is damaged), and that fails the ledger: the host's next write fails
    # safe, a stop, not an exception.
    report = DeviceStatus((1, 0, 0, 0), None, 30.0, None, None, False, 0, frozenset())
    host_policy.observe_status(report, now=1.0)
    with pytest.raises(LedgerError, match="cannot be written"):
        Ledger.shared().flush()
    assert host_policy.required_actions(1.0) == []
    host_policy.observe_status(report, now=2.0)
    assert [a.kind for a in host_policy.required_actions(2.0)] == ["stop_all"]
    # A new host cannot read the history: it refuses, it does not crash.
    refusal = refused_everything(SafetyPolicy(heat_device(sensor=False)))
    assert "cannot be read" in str(refusal)
