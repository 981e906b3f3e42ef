"""History people can read: the Python API and ``massager history``."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from massager_sdk.safety.history import history, open_session
from massager_sdk.safety.ledger import default_ledger_path
from tests.cli.helpers import massager
from tests.ledger.test_processes import host


def test_tests_never_touch_the_users_ledger(_private_ledger: Path) -> None:
    assert default_ledger_path() == _private_ledger
    assert not str(_private_ledger).startswith(str(Path.home() / ".local"))


def test_history_from_python_and_the_command_line(_private_ledger: Path, tmp_path: Path) -> None:
    t0 = time.time() - 3 * 3600
    host(wall=t0, on_s=120, heat=42, status_s=5, end="off")
    host(wall=t0 + 130, on_s=30, heat=44)  # refused: above heat_max_c
    [record] = history()
    assert record.device == "Test Heat 4/T4-1" and record.started == t0
    assert record.length_s == 120 and record.peak_temp_c == 42.0 and record.peak_heat_c == 42.0
    assert record.peak_levels == (1, 1, 0, 0) and record.peak_dose_min > 0
    assert record.how_it_ended == "stopped by the host"
    detail = open_session(record.id)
    assert len(detail.samples) == 120 / 5
    assert detail.samples[-1].t == t0 + 120 and detail.samples[0].heat_target_c == 42.0

    listed = massager("history", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["id"] == record.id and row["how_it_ended"] == "stopped by the host"
    plain = massager("history")
    assert "Test Heat 4/T4-1" in plain.stdout and "2:00" in plain.stdout

    plot = tmp_path / "session.png"
    shown = massager("history", "show", str(record.id), "--plot", str(plot))
    assert shown.returncode == 0, shown.stderr
    assert "peak temp    42 C" in shown.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    as_json = json.loads(massager("history", "show", str(record.id), "--json").stdout)
    assert len(as_json["samples"]) == len(detail.samples)

    missing = massager("history", "show", "999")
    assert missing.returncode == 2 and "no session 999" in missing.stderr


def test_refusals_without_a_session_are_recorded(_private_ledger: Path) -> None:
    host(wall=time.time() - 3600, on_s=30, heat=44)
    assert history() == []
    with sqlite3.connect(_private_ledger) as db:
        rows = db.execute("SELECT device, kind, detail FROM events").fetchall()
    [(device, kind, detail)] = rows
    assert device == "Test Heat 4/T4-1" and kind == "refusal" and "'heat_max'" in detail
