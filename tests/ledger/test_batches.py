"""Status-rate writes go in batches: one connection per process, one transaction for many."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from massager_sdk.model import DeviceStatus
from massager_sdk.safety import SafetyPolicy
from massager_sdk.safety.ledger import Ledger, LedgerError, Sample, SessionUpdate
from tests.safety.devices import heat_device

ROOT = Path(__file__).resolve().parents[2]
T0 = round(time.time()) - 3600.0  # within the retention: opening does not prune it


def update(t: float, levels: tuple[int, ...], **fields: object) -> SessionUpdate:
    values: dict[str, object] = {
        "on_s": t - T0,
        "contact_s": 0.0,
        "over": False,
        "off_since": None,
        "dose_min": 0.0,
        "heat_c": None,
    }
    values.update(fields)
    return SessionUpdate(t, levels=levels, **values)  # type: ignore[arg-type]


def on_disk(path: Path) -> tuple[int, tuple[object, ...]]:
    """What another process would read: samples written, and the session's row."""
    with sqlite3.connect(path) as db:
        samples = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        row = db.execute(
            "SELECT updated, on_s, peak_levels, dose_min, peak_dose_min, peak_temp_c FROM sessions"
        ).fetchone()
    return samples, tuple(row)


def test_the_policies_of_a_process_share_one_ledger(_private_ledger: Path) -> None:
    first, second = SafetyPolicy(heat_device()), SafetyPolicy(heat_device())
    assert first.ledger is not None and first.ledger is second.ledger
    assert first.ledger is Ledger.shared() and first.ledger.path == _private_ledger
    # Another file is another ledger; a closed one is opened anew.
    other = Ledger.shared(_private_ledger.with_name("other.sqlite3"))
    assert other is not first.ledger
    first.ledger.close()
    assert SafetyPolicy(heat_device()).ledger is not first.ledger


def test_statuses_wait_for_the_batch_and_go_as_one(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path, flush_s=5.0)
    row = ledger.start_session("M/1", "M", T0)
    for i, levels in enumerate([(1, 0), (3, 0), (2, 1)]):
        t = T0 + 1 + i
        ledger.record(
            row,
            update(t, levels, temperature_c=30.0 + i, dose_min=i / 10),
            Sample(t, levels, None, 30.0 + i),
        )
    # Nothing of it on disk yet: it waits for the batch.
    assert on_disk(path) == (0, (T0, 0.0, "[]", 0.0, 0.0, None))
    ledger.flush()
    # Three samples, and the row as the newest update left it, with the peaks of all.
    assert on_disk(path) == (3, (T0 + 3, 3.0, "[3, 1]", 0.2, 0.2, 32.0))
    assert [s.levels for s in ledger.samples(row)] == [(1, 0), (3, 0), (2, 1)]
    ledger.close()


def test_a_batch_spans_at_most_flush_s_of_the_time_it_records(tmp_path: Path) -> None:
    # A simulated device at --speed runs ahead of real time: its statuses are not held
    # for a second of real time, which would be minutes of its own.
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path, flush_s=5.0)
    row = ledger.start_session("M/1", "M", T0)
    ledger.record(row, update(T0 + 1, (1,)), Sample(T0 + 1, (1,), None, None))
    ledger.record(row, update(T0 + 4, (1,)), Sample(T0 + 4, (1,), None, None))
    assert on_disk(path)[0] == 0
    ledger.record(row, update(T0 + 6, (1,)), Sample(T0 + 6, (1,), None, None))
    assert on_disk(path)[0] == 3
    ledger.close()


def test_a_turn_in_the_session_is_written_at_once_after_what_waited(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path, flush_s=60.0)
    row = ledger.start_session("M/1", "M", T0)
    ledger.record(row, update(T0 + 1, (4, 0)), Sample(T0 + 1, (4, 0), None, None))
    # Switching off: written now, the waiting status first (its peak is kept).
    ledger.update(row, update(T0 + 2, (0, 0), off_since=T0 + 2, end_reason="stopped by the host"))
    samples, (updated, _, peaks, *_) = on_disk(path)
    assert (samples, updated, peaks) == (1, T0 + 2, "[4, 0]")
    assert ledger.session(row).end_reason == "stopped by the host"
    # An event also carries what waits; so does a read in the same process.
    ledger.record(row, update(T0 + 3, (0, 0), off_since=T0 + 2), Sample(T0 + 3, (0, 0), None, None))
    ledger.add_event("M/1", row, T0 + 3, "refusal", "too hot")
    assert on_disk(path)[0] == 2
    ledger.record(row, update(T0 + 4, (0, 0), off_since=T0 + 2), Sample(T0 + 4, (0, 0), None, None))
    assert len(ledger.samples(row)) == 3
    ledger.close()


def test_what_waits_is_written_on_closing_and_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path, flush_s=60.0) as ledger:
        row = ledger.start_session("M/1", "M", T0)
        ledger.record(row, update(T0 + 1, (2,)), Sample(T0 + 1, (2,), None, None))
    assert on_disk(path)[0] == 1
    with pytest.raises(LedgerError, match="cannot be written"):
        ledger.record(row, update(T0 + 2, (2,)))  # closed: at once, not with a batch
    # A process that ends without closing its ledger still writes what waited.
    script = textwrap.dedent(
        f"""
        from massager_sdk.safety.ledger import Ledger, Sample, SessionUpdate
        ledger = Ledger({str(path)!r}, flush_s=60.0)
        u = SessionUpdate({T0 + 5}, 5.0, 0.0, False, None, 0.0, (3,), None)
        ledger.record({row}, u, Sample({T0 + 5}, (3,), None, None))
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=60)
    samples, (updated, _, peaks, *_) = on_disk(path)
    assert (samples, updated, peaks) == (2, T0 + 5, "[3]")


def test_one_transaction_carries_the_statuses_of_many_devices(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path, flush_s=60.0)
    rows = [ledger.start_session(f"M/{i}", "M", T0) for i in range(100)]
    commits: list[str] = []
    ledger._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    for second in range(3):
        for row in rows:
            t = T0 + 1 + second
            ledger.record(row, update(t, (1,)), Sample(t, (1,), None, None))
    ledger.flush()
    assert commits == ["COMMIT"]
    assert on_disk(path)[0] == 300
    ledger.close()


def test_a_policy_records_each_status_with_the_batch(_private_ledger: Path) -> None:
    policy = SafetyPolicy(heat_device(sensor=False))
    policy.outputs_changed([1, 0, 0, 0], None, now=0.0)  # the session's row, at once
    report = DeviceStatus((1, 0, 0, 0), None, 30.0, None, None, False, 0, frozenset())
    policy.observe_status(report, now=0.5)
    assert on_disk(_private_ledger)[0] == 0
    assert policy.ledger is not None
    policy.ledger.flush()
    assert on_disk(_private_ledger)[0] == 1
