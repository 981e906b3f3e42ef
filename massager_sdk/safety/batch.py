"""The ledger's status-rate writes, waiting to be written together (see :mod:`.ledger`).

A bridge with a thousand devices gets a thousand statuses a second. Written one by
one, each status was two transactions (its telemetry, then the session's clocks);
waiting here they go in one transaction a second for every device: the telemetry as
one multi-row insert, and each session's row once, as its newest update left it with
the peaks of all.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time

#: Status-rate writes wait at most this long for others to go with them (in real time,
#: and in the time they record): a process that dies loses at most its last second or two.
FLUSH_S = 1.0
#: A batch this large is written at once, however young.
MAX_BATCH = 20_000

#: A telemetry row: session, Unix time, levels (JSON), heat target, temperature.
SampleRow = tuple[int, float, str, float | None, float | None]


@dataclasses.dataclass(frozen=True, slots=True)
class SessionUpdate:
    """A session's clocks and dose at Unix time ``t``, for :meth:`Ledger.update_session`.

    ``levels``, ``heat_c`` and ``temperature_c`` only raise the session's peaks.
    While ``off_since`` is ``None`` the outputs are on and the session has not ended;
    ``end_reason`` marks the moment they went off, and how.
    """

    t: float
    on_s: float
    contact_s: float
    over: bool
    off_since: float | None
    dose_min: float
    levels: tuple[int, ...]
    heat_c: float | None
    temperature_c: float | None = None
    end_reason: str | None = None

    def then(self, newer: SessionUpdate) -> SessionUpdate:
        """``newer``, keeping the peaks of both: two updates written as one."""
        return dataclasses.replace(
            newer,
            levels=tuple(max(a, b) for a, b in zip(self.levels, newer.levels, strict=False)),
            heat_c=_highest(self.heat_c, newer.heat_c),
            temperature_c=_highest(self.temperature_c, newer.temperature_c),
        )


def _highest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


@dataclasses.dataclass(slots=True)
class _Waiting:
    """A session's updates not written yet, as one, and the highest dose among them."""

    update: SessionUpdate
    peak_dose_min: float


class Batch:
    """Telemetry rows and session updates waiting; not thread-safe (the ledger locks)."""

    def __init__(self, flush_s: float = FLUSH_S) -> None:
        self.flush_s = flush_s
        self._samples: list[SampleRow] = []
        self._updates: dict[int, _Waiting] = {}
        self._written_at = time.monotonic()
        self._first_t: float | None = None  # Unix time of the oldest update waiting

    def __bool__(self) -> bool:
        """Whether anything waits."""
        return bool(self._samples or self._updates)

    def add(self, session: int, update: SessionUpdate, sample: SampleRow | None) -> bool:
        """Add a status's writes; whether the batch is due now."""
        if sample is not None:
            self._samples.append(sample)
        waiting = self._updates.get(session)
        if waiting is None:
            self._updates[session] = _Waiting(update, update.dose_min)
        else:
            waiting.update = waiting.update.then(update)
            waiting.peak_dose_min = max(waiting.peak_dose_min, update.dose_min)
        if self._first_t is None:
            self._first_t = update.t
        return (
            update.end_reason is not None
            or len(self._samples) + len(self._updates) >= MAX_BATCH
            or time.monotonic() - self._written_at >= self.flush_s
            # A scaled clock (a simulated device at --speed) runs ahead of real time: a
            # batch never spans more than flush_s of the time it records either.
            or update.t - self._first_t >= self.flush_s
        )

    def write(self, db: sqlite3.Connection) -> None:
        """Write everything waiting, inside the caller's transaction (kept until
        :meth:`clear`, so a transaction rolled back loses nothing yet)."""
        if self._samples:
            db.executemany(
                "INSERT INTO samples (session, t, levels, heat_target_c, temperature_c) "
                "VALUES (?, ?, ?, ?, ?)",
                self._samples,
            )
        for session, waiting in self._updates.items():
            write_update(db, session, waiting.update, waiting.peak_dose_min)

    def clear(self) -> None:
        """The transaction that wrote the batch was committed."""
        self._samples.clear()
        self._updates.clear()
        self._written_at = time.monotonic()
        self._first_t = None


def write_update(
    db: sqlite3.Connection, session: int, update: SessionUpdate, peak_dose_min: float
) -> None:
    """Write one session's row: its clocks and dose now, its peaks raised."""
    row = db.execute("SELECT peak_levels FROM sessions WHERE id = ?", (session,)).fetchone()
    if row is None:
        raise sqlite3.DatabaseError(f"session {session} is missing from the ledger")
    levels = update.levels
    peaks = json.loads(row[0]) or [0] * len(levels)
    peaks = [max(a, b) for a, b in zip(peaks, levels, strict=False)]
    on = update.off_since is None
    heat, temperature, end_reason = update.heat_c, update.temperature_c, update.end_reason
    db.execute(
        """UPDATE sessions SET updated = ?, on_s = ?, contact_s = ?, over = ?,
           off_since = ?, dose_min = ?, peak_dose_min = MAX(peak_dose_min, ?),
           peak_levels = ?,
           peak_heat_c = MAX(COALESCE(peak_heat_c, ?), COALESCE(?, peak_heat_c)),
           peak_temp_c = MAX(COALESCE(peak_temp_c, ?), COALESCE(?, peak_temp_c)),
           ended = CASE WHEN ? THEN NULL WHEN ? IS NOT NULL THEN ? ELSE ended END,
           end_reason = CASE WHEN ? THEN NULL ELSE COALESCE(?, end_reason) END
           WHERE id = ?""",
        (
            update.t,
            update.on_s,
            update.contact_s,
            int(update.over),
            update.off_since,
            update.dose_min,
            max(peak_dose_min, update.dose_min),
            json.dumps(peaks),
            heat,
            heat,
            temperature,
            temperature,
            on,
            end_reason,
            update.t,
            on,
            end_reason,
            session,
        ),
    )
