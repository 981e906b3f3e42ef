"""The ledger across host processes: back to back, a host that vanishes, two at once."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from massager_sdk.safety import SafetyLimits
from massager_sdk.safety.ledger import Ledger, LedgerError

ROOT = Path(__file__).resolve().parents[2]
LIMITS = SafetyLimits()


def host(**spec: Any) -> dict[str, Any]:
    """Run one host process to completion and return what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.ledger.proc", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_three_processes_back_to_back_cannot_heat_past_the_session(
    _private_ledger: Path,
) -> None:
    t0 = time.time() - 6 * 3600  # in the past: every write is history by now
    auto_off = LIMITS.auto_off_s  # 15 min
    # The first host heats at 42 C for 10 minutes and is killed with everything on.
    first = host(wall=t0, on_s=600, heat=42, end="vanish")
    assert first["refused"] is None and first["end"]["session_elapsed_s"] == 600
    # A minute later a second host carries on the same session: 5 minutes are left.
    second = host(wall=t0 + 660, on_s=3600, heat=42, end="off")
    assert second["start"]["session_elapsed_s"] == 600
    assert second["start"]["session_remaining_s"] == auto_off - 600
    assert second["stopped"] is not None and "session used its 15 min" in second["stopped"]
    assert second["end"]["session_elapsed_s"] == auto_off
    # A third host right after is refused: the rest is not over.
    third = host(wall=t0 + 660 + 300 + 30, on_s=600, heat=42)
    assert third["refused"] == "rest"
    assert third["start"]["rest_remaining_s"] == LIMITS.rest_s - 30
    # After the full rest a fresh session starts.
    fourth = host(wall=t0 + 660 + 300 + LIMITS.rest_s + 1, on_s=60, heat=42)
    assert fourth["refused"] is None
    assert fourth["start"]["session_elapsed_s"] == 0
    assert fourth["end"]["session_elapsed_s"] == 60
    with Ledger(_private_ledger) as ledger:
        rows = ledger.sessions()
    assert [r.length_s for r in reversed(rows)] == [600, auto_off - 600, 60]
    assert rows[1].carried_s == 600 and rows[1].on_s == auto_off  # one session clock
    assert rows[-1].how_it_ended == "host went away while on"  # the killed host
    assert "session used its 15 min" in rows[1].how_it_ended
    assert rows[0].how_it_ended == "stopped by the host"


def test_a_restarted_host_keeps_the_thermal_dose(_private_ledger: Path) -> None:
    t0 = time.time() - 6 * 3600
    first = host(wall=t0, on_s=600, heat=42, end="off")
    dose = first["end"]["thermal_dose_min"]
    assert dose > 0
    later = host(wall=t0 + 600 + 120, on_s=0)
    half_life = LIMITS.dose_half_life_s
    expected = dose * 0.5 ** (120 / half_life)
    assert abs(later["start"]["thermal_dose_min"] - expected) < 1e-9


def test_two_processes_at_once(_private_ledger: Path) -> None:
    t0 = time.time() - 6 * 3600
    spec = json.dumps({"wall": t0, "on_s": 400, "heat": 40, "status_s": 1, "end": "off"})
    env = {**os.environ}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.ledger.proc", spec],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert json.loads(out)["refused"] is None, out
    with sqlite3.connect(_private_ledger) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        sessions = db.execute("SELECT id, pid FROM sessions").fetchall()
        assert len(sessions) == 2 and len({pid for _, pid in sessions}) == 2
        for session, _ in sessions:
            count = db.execute("SELECT COUNT(*) FROM samples WHERE session = ?", (session,))
            assert count.fetchone()[0] == 400  # one per status, none lost to the other


def _open_at_once(path: str, start: Any, results: Any) -> None:
    start.wait()
    try:
        Ledger(path).close()
        results.put("ok")
    except LedgerError as exc:
        results.put(str(exc))


def test_processes_opening_a_new_ledger_at_once_all_get_it(tmp_path: Path) -> None:
    # The first open switches the new file to WAL mode; SQLite answers the others
    # "database is locked" at once meanwhile, without waiting its busy timeout.
    context = multiprocessing.get_context("fork")
    for round_ in range(8):
        path = str(tmp_path / f"ledger{round_}.sqlite3")
        start, results = context.Barrier(3), context.Queue()
        procs = [
            context.Process(target=_open_at_once, args=(path, start, results)) for _ in range(3)
        ]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(30)
        assert [results.get(timeout=5) for _ in procs] == ["ok"] * 3
