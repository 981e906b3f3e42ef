"""The session ledger: each device's safety history, kept in SQLite and shared by every process.

One file per user (:func:`default_ledger_path`), written by every face (the CLI, scripts,
the sync facade, the MQTT bridge): each session's on-time, heat contact, rest, thermal
dose, peaks and how it ended, telemetry at the device's status rate, refusals and
stops. The safety policy reads it when a session is about to start, so the session
clock, the rest and the thermal dose carry over from one process to the next.

Writes are short transactions in WAL mode with a busy timeout, so two processes may
use the ledger at once. Every policy of a process shares one connection
(:meth:`Ledger.shared`), and what arrives at the status rate (telemetry, the session's
clocks, level changes while on) is written in batches: one transaction at most every
:data:`FLUSH_S` for all the process's devices, instead of two per status of each, which
is what lets one bridge keep a thousand devices. What changes a session's course (its
start, its end, using its time, refusals, stops) is written at once, with anything
waiting before it. Anything wrong with the file raises :class:`LedgerError`, which the
policy turns into a refusal: no session starts without its history.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from massager_sdk.errors import MassagerError
from massager_sdk.safety.batch import FLUSH_S, Batch, SessionUpdate, write_update

__all__ = [
    "BUSY_TIMEOUT_S",
    "DEFAULT_RETENTION_DAYS",
    "FLUSH_S",
    "LEDGER_ENV",
    "RETENTION_ENV",
    "Ledger",
    "LedgerError",
    "LedgerEvent",
    "Sample",
    "SessionRecord",
    "SessionUpdate",
    "default_ledger_path",
    "default_retention_days",
]

#: Names the ledger file, overriding the default location.
LEDGER_ENV = "MASSAGER_LEDGER"
#: Days of history kept (sessions, their telemetry and events); older ones are removed.
RETENTION_ENV = "MASSAGER_LEDGER_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 90.0
#: How long a write waits for another process's transaction before it fails.
BUSY_TIMEOUT_S = 5.0
_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    model TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started REAL NOT NULL,
    updated REAL NOT NULL,
    on_s REAL NOT NULL DEFAULT 0,
    carried_s REAL NOT NULL DEFAULT 0,
    contact_s REAL NOT NULL DEFAULT 0,
    over INTEGER NOT NULL DEFAULT 0,
    off_since REAL,
    ended REAL,
    end_reason TEXT,
    dose_min REAL NOT NULL DEFAULT 0,
    peak_dose_min REAL NOT NULL DEFAULT 0,
    peak_temp_c REAL,
    peak_heat_c REAL,
    peak_levels TEXT NOT NULL DEFAULT '[]',
    refusals INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_device ON sessions (device, updated);
CREATE INDEX IF NOT EXISTS sessions_updated ON sessions (updated);
CREATE TABLE IF NOT EXISTS samples (
    session INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    t REAL NOT NULL,
    levels TEXT NOT NULL,
    heat_target_c REAL,
    temperature_c REAL
);
CREATE INDEX IF NOT EXISTS samples_session ON samples (session, t);
CREATE TABLE IF NOT EXISTS events (
    session INTEGER REFERENCES sessions (id) ON DELETE CASCADE,
    device TEXT NOT NULL,
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_device ON events (device, t);
"""


class LedgerError(MassagerError):
    """The ledger cannot be read or written; the message says what to do."""


def default_ledger_path() -> Path:
    """``$MASSAGER_LEDGER``, else ``$XDG_STATE_HOME/massager/ledger.sqlite3``.

    Without ``XDG_STATE_HOME``, ``~/.local/state/massager/ledger.sqlite3``.
    """
    explicit = os.environ.get(LEDGER_ENV)
    if explicit:
        return Path(explicit).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "massager" / "ledger.sqlite3"


def default_retention_days() -> float:
    """Days of history kept: ``$MASSAGER_LEDGER_RETENTION_DAYS`` or 90."""
    text = os.environ.get(RETENTION_ENV)
    if not text:
        return DEFAULT_RETENTION_DAYS
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not days > 0:
        raise LedgerError(f"{RETENTION_ENV}={text!r}: give a number of days above 0, e.g. 90")
    return days


@dataclasses.dataclass(frozen=True, slots=True)
class SessionRecord:
    """One session as the ledger holds it. Times are Unix seconds."""

    id: int
    device: str  #: model and serial, e.g. ``"NMP-SIM/0001"``
    model: str
    pid: int  #: the process that ran it
    started: float
    updated: float  #: the last time its process wrote it
    on_s: float  #: the session clock's on-time, with what earlier rows carried over
    carried_s: float  #: on-time carried over from an earlier row without a rest between
    contact_s: float  #: heater on-time
    over: bool  #: it used its whole time: a rest is due
    off_since: float | None  #: when everything went off (``None``: on at ``updated``)
    ended: float | None  #: when it last went off (``None``: on, or its host went away)
    end_reason: str | None  #: how it ended
    dose_min: float  #: thermal dose at ``updated``, equivalent minutes at 44 C
    peak_dose_min: float
    peak_temp_c: float | None  #: the highest reported temperature
    peak_heat_c: float | None  #: the highest heat target
    peak_levels: tuple[int, ...]  #: each zone's highest level
    refusals: int

    @property
    def length_s(self) -> float:
        """On-time of this row alone."""
        return max(0.0, self.on_s - self.carried_s)

    @property
    def how_it_ended(self) -> str:
        """How the session ended, in words (also when its host went away while on)."""
        if self.end_reason:
            return self.end_reason
        if self.ended is None and self.off_since is None:
            return "host went away while on"
        return "off"

    def to_dict(self) -> dict[str, object]:
        """The record as plain JSON-able values."""
        data = dataclasses.asdict(self)
        data["peak_levels"] = list(self.peak_levels)
        data["how_it_ended"] = self.how_it_ended
        data["length_s"] = self.length_s
        return data


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    """Telemetry at one moment: what the device reported."""

    t: float
    levels: tuple[int, ...]
    heat_target_c: float | None
    temperature_c: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class LedgerEvent:
    """A refusal, a stop or a device event, as recorded."""

    t: float
    kind: str
    detail: str


class Ledger:
    """The safety history in one SQLite file (default :func:`default_ledger_path`).

    Opening creates the file and its folder when missing, checks that it can be
    written and removes history older than ``retention_days`` (default
    :func:`default_retention_days`). Raises :class:`LedgerError` when the file is corrupt or
    cannot be written. Safe to share between threads; every process opens its own,
    and the policies of a process share one (:meth:`shared`).

    :meth:`record` batches status-rate writes: they are written together, in one
    transaction, by the first call at least ``flush_s`` after the last batch (in real
    time, or in the Unix time the updates carry, whichever comes first), by any other
    write or read of this ledger, by :meth:`flush` and on closing (also at the
    interpreter's exit). A batch that cannot be written fails the ledger: every later
    call raises the same :class:`LedgerError`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        retention_days: float | None = None,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
        flush_s: float = FLUSH_S,
    ) -> None:
        self.path = Path(path) if path is not None else default_ledger_path()
        self.retention_days = (
            retention_days if retention_days is not None else default_retention_days()
        )
        if not self.retention_days > 0:
            raise LedgerError(f"retention_days must be above 0, not {self.retention_days!r}")
        self._lock = threading.Lock()
        self._batch = Batch(flush_s)
        self._failed: LedgerError | None = None  #: a batch that could not be written
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise self._error("cannot be opened", exc) from exc
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._wal(busy_timeout_s)
            self._db.execute("PRAGMA synchronous = NORMAL")
            with self._write() as db:
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version > _SCHEMA_VERSION:
                    raise sqlite3.DatabaseError(
                        f"it was written by a newer massager-sdk (schema {version})"
                    )
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            self.prune(time.time())
        except (sqlite3.Error, LedgerError) as exc:
            self._db.close()
            if isinstance(exc, LedgerError):
                raise
            raise self._error("cannot be used", exc) from exc
        _OPEN.add(self)

    @property
    def flush_s(self) -> float:
        """How long status-rate writes wait for others (see the class)."""
        return self._batch.flush_s

    @classmethod
    def shared(cls, path: str | os.PathLike[str] | None = None) -> Ledger:
        """This process's ledger at ``path`` (default :func:`default_ledger_path`).

        Opened on first use and shared by every caller in the process while any holds
        it, so that the status-rate writes of all its devices go in one batch. A ledger
        that failed or was closed is opened anew. Raises :class:`LedgerError` as opening
        does (the retention setting is checked on every call).
        """
        where = Path(path) if path is not None else default_ledger_path()
        retention = default_retention_days()
        key = (os.getpid(), os.path.abspath(where), retention)
        with _SHARED_LOCK:
            ledger = _SHARED.get(key)
            if ledger is None or ledger._failed is not None or ledger._closed:
                ledger = cls(where, retention_days=retention)
                _SHARED[key] = ledger
            return ledger

    # ---------------------------------------------------------------- writing

    def start_session(self, device: str, model: str, t: float, carried_s: float = 0.0) -> int:
        """Open a session row for ``device`` at Unix time ``t``; returns its id.

        ``carried_s`` is on-time carried over from an earlier row of the same session
        (another process ran it before this one, without the rest in between).
        """
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO sessions (device, model, pid, started, updated, on_s, carried_s) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (device, model, os.getpid(), t, t, carried_s, carried_s),
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def update_session(
        self,
        session: int,
        t: float,
        *,
        on_s: float,
        contact_s: float,
        over: bool,
        off_since: float | None,
        dose_min: float,
        levels: Sequence[int],
        heat_c: float | None,
        temperature_c: float | None = None,
        end_reason: str | None = None,
    ) -> None:
        """Write a session's clocks and dose at ``t`` and raise its peaks, at once.

        While ``off_since`` is ``None`` the outputs are on and the session has not
        ended; ``end_reason`` marks the moment they went off, and how.
        """
        update = SessionUpdate(
            t,
            on_s,
            contact_s,
            over,
            off_since,
            dose_min,
            tuple(levels),
            heat_c,
            temperature_c,
            end_reason,
        )
        self.update(session, update)

    def update(self, session: int, update: SessionUpdate) -> None:
        """:meth:`update_session` with a :class:`SessionUpdate`: written at once."""
        with self._write() as db:
            write_update(db, session, update, update.dose_min)

    def record(self, session: int, update: SessionUpdate, sample: Sample | None = None) -> None:
        """Write a session's clocks (and a telemetry ``sample``) with the next batch.

        The status-rate write: updates of one session waiting together are written
        as one (the newest, with the peaks of all). An update with an ``end_reason``
        is written at once.
        """
        row = None
        if sample is not None:
            levels = json.dumps(list(sample.levels))
            row = (session, sample.t, levels, sample.heat_target_c, sample.temperature_c)
        with self._lock:
            self._usable()
            if self._batch.add(session, update, row):
                self._write_waiting()

    def flush(self) -> None:
        """Write what :meth:`record` holds now."""
        with self._lock:
            self._usable()
            self._write_waiting()

    def add_sample(
        self,
        session: int,
        t: float,
        levels: Sequence[int],
        heat_target_c: float | None,
        temperature_c: float | None,
    ) -> None:
        """Record telemetry for ``session``."""
        with self._write() as db:
            db.execute(
                "INSERT INTO samples (session, t, levels, heat_target_c, temperature_c) "
                "VALUES (?, ?, ?, ?, ?)",
                (session, t, json.dumps(list(levels)), heat_target_c, temperature_c),
            )

    def add_event(self, device: str, session: int | None, t: float, kind: str, detail: str) -> None:
        """Record a refusal, a stop or a device event."""
        with self._write() as db:
            db.execute(
                "INSERT INTO events (session, device, t, kind, detail) VALUES (?, ?, ?, ?, ?)",
                (session, device, t, kind, detail),
            )
            if kind == "refusal" and session is not None:
                db.execute("UPDATE sessions SET refusals = refusals + 1 WHERE id = ?", (session,))

    def prune(self, now: float) -> int:
        """Remove history older than the retention; returns how many sessions went."""
        cutoff = now - self.retention_days * 86400.0
        with self._write() as db:
            gone = db.execute("DELETE FROM sessions WHERE updated < ?", (cutoff,)).rowcount
            db.execute("DELETE FROM events WHERE t < ?", (cutoff,))
        return gone

    # ---------------------------------------------------------------- reading

    def latest(self, device: str) -> SessionRecord | None:
        """The session of ``device`` written most recently, by any process."""
        rows = self._read(
            "SELECT * FROM sessions WHERE device = ? ORDER BY updated DESC, id DESC LIMIT 1",
            (device,),
        )
        return self._records(rows)[0] if rows else None

    def sessions(
        self, device: str | None = None, *, since: float | None = None, limit: int = 50
    ) -> list[SessionRecord]:
        """Sessions, newest first; of one device (model/serial, or a model) when given."""
        where: list[str] = ["1"]
        args: list[object] = []
        if device is not None:
            where.append("(device = ? OR model = ?)")
            args += [device, device]
        if since is not None:
            where.append("updated >= ?")
            args.append(since)
        rows = self._read(
            f"SELECT * FROM sessions WHERE {' AND '.join(where)} "
            "ORDER BY started DESC, id DESC LIMIT ?",
            (*args, limit),
        )
        return self._records(rows)

    def session(self, session: int) -> SessionRecord:
        """One session by id; ``KeyError`` when there is none."""
        rows = self._read("SELECT * FROM sessions WHERE id = ?", (session,))
        if not rows:
            raise KeyError(f"no session {session} in {self.path}")
        return self._records(rows)[0]

    def samples(self, session: int) -> list[Sample]:
        """A session's telemetry, oldest first."""
        rows = self._read(
            "SELECT t, levels, heat_target_c, temperature_c FROM samples "
            "WHERE session = ? ORDER BY t",
            (session,),
        )
        try:
            return [Sample(r[0], tuple(json.loads(r[1])), r[2], r[3]) for r in rows]
        except (ValueError, TypeError) as exc:
            raise self._error("cannot be read", exc) from exc

    def events(self, session: int) -> list[LedgerEvent]:
        """A session's refusals, stops and device events, oldest first."""
        rows = self._read(
            "SELECT t, kind, detail FROM events WHERE session = ? ORDER BY t", (session,)
        )
        return [LedgerEvent(r[0], r[1], r[2]) for r in rows]

    def close(self) -> None:
        """Write what waits, and close the file (the ledger cannot be used afterwards).

        Raises :class:`LedgerError` when what waited cannot be written (the file is
        closed all the same).
        """
        with self._lock:
            if self._closed:
                return
            try:
                if self._failed is None:
                    self._write_waiting()
            finally:
                self._closed = True
                self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ internals

    def _wal(self, busy_timeout_s: float) -> None:
        """Switch the file to WAL mode. Switching needs the file to itself, and SQLite
        answers "database is locked" at once, without its busy timeout, while another
        process opens or switches the same new file: so try again until the timeout."""
        deadline = time.monotonic() + busy_timeout_s
        while True:
            try:
                mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        if mode != "wal":
            raise sqlite3.OperationalError("WAL mode is not available")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction, with what :meth:`record` holds written first."""
        with self._lock:
            self._usable()
            with self._transaction() as db:
                yield db

    def _usable(self) -> None:
        """Raise when closed or failed (the lock is held)."""
        if self._failed is not None:
            raise self._failed
        if self._closed:
            raise self._error("cannot be written", sqlite3.ProgrammingError("it was closed"))

    def _write_waiting(self) -> None:
        """Write the batch now, if anything waits (the lock is held): a transaction
        always writes it first."""
        if self._batch:
            with self._transaction():
                pass

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction (the lock is held), taken at once so that a busy ledger waits
        here, not mid-way; it begins with the batch :meth:`record` holds. When that
        batch cannot be written, the ledger fails for good (see the class)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error("cannot be written", exc) from exc
        try:
            try:
                self._batch.write(self._db)
            except (sqlite3.Error, ValueError, TypeError) as exc:
                self._failed = self._error("cannot be written", exc)
                raise self._failed from exc
            yield self._db
        except LedgerError:
            self._db.execute("ROLLBACK")
            raise
        except (sqlite3.Error, ValueError, TypeError) as exc:
            # A damaged row (bad JSON, a wrong type) is a damaged ledger, like a bad page.
            self._db.execute("ROLLBACK")
            raise self._error("cannot be written", exc) from exc
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._db.execute("ROLLBACK")
            self._failed = self._error("cannot be written", exc)
            raise self._failed from exc
        self._batch.clear()

    def _read(self, sql: str, args: Sequence[object]) -> list[sqlite3.Row]:
        with self._lock:
            self._usable()
            try:
                self._write_waiting()  # this process's own batch first: it reads what it wrote
                cur = self._db.execute(sql, args)
                cur.row_factory = sqlite3.Row
                return cur.fetchall()
            except sqlite3.Error as exc:
                raise self._error("cannot be read", exc) from exc

    def _records(self, rows: list[sqlite3.Row]) -> list[SessionRecord]:
        try:
            return [_record(row) for row in rows]
        except (ValueError, TypeError, KeyError) as exc:
            raise self._error("cannot be read", exc) from exc

    def _error(self, what: str, exc: BaseException) -> LedgerError:
        return LedgerError(
            f"the session ledger {self.path} {what} ({exc}). No session starts without it: "
            f"move the file aside if it is damaged, make its folder writable, or set "
            f"{LEDGER_ENV} to a writable file (docs/safety.md, 'Session ledger')"
        )


def _record(row: sqlite3.Row) -> SessionRecord:
    return SessionRecord(
        id=row["id"],
        device=row["device"],
        model=row["model"],
        pid=row["pid"],
        started=row["started"],
        updated=row["updated"],
        on_s=row["on_s"],
        carried_s=row["carried_s"],
        contact_s=row["contact_s"],
        over=bool(row["over"]),
        off_since=row["off_since"],
        ended=row["ended"],
        end_reason=row["end_reason"],
        dose_min=row["dose_min"],
        peak_dose_min=row["peak_dose_min"],
        peak_temp_c=row["peak_temp_c"],
        peak_heat_c=row["peak_heat_c"],
        peak_levels=tuple(json.loads(row["peak_levels"])),
        refusals=row["refusals"],
    )


#: Every open ledger, so that what waits is written at the interpreter's exit.
_OPEN: weakref.WeakSet[Ledger] = weakref.WeakSet()
#: :meth:`Ledger.shared`'s ledgers, by process, path and retention; held by their users.
_SHARED: weakref.WeakValueDictionary[tuple[int, str, float], Ledger] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


@atexit.register
def _close_all() -> None:
    for ledger in list(_OPEN):
        with contextlib.suppress(LedgerError, sqlite3.Error):
            ledger.close()
