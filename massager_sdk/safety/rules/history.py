"""History: the session ledger behind the policy (docs/safety.md, "Session ledger").

Before a session starts, the latest session of the same device, written by any
process, is read back: when its rest is not over, its on-time, heat contact and
whether it used its time carry over, and its thermal dose carries over, decayed for
the time since. While a session runs, its clocks, peaks, telemetry (at the status
rate), refusals and stops are written: what comes at the status rate (telemetry, level
changes while on) with the ledger's next batch, the rest at once. A ledger that cannot
be opened, read or written refuses every output: no session runs without its history.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from massager_sdk.errors import SafetyRefusal
from massager_sdk.model import DeviceEvent, DeviceStatus, EventKind
from massager_sdk.safety.ledger import Ledger, LedgerError, Sample, SessionRecord, SessionUpdate
from massager_sdk.safety.limits import Limit
from massager_sdk.safety.rules.base import PolicyState, Rule, refusal
from massager_sdk.safety.rules.heat import HeatGuard
from massager_sdk.safety.rules.session import SessionClock
from massager_sdk.safety.rules.stops import StopLatch

logger = logging.getLogger("massager_sdk.safety")


def wall_time() -> float:
    """Unix time now (the policy's clock is anchored to it at its first call)."""
    return time.time()


#: While no session runs, the ledger is read again at most this often (policy time).
SYNC_S = 1.0


class SessionHistory(Rule):
    """Reads a device's safety history from the ledger and writes the running session to it."""

    def __init__(
        self,
        state: PolicyState,
        ledger: Ledger | LedgerError | None,
        session: SessionClock,
        heat: HeatGuard,
        stops: StopLatch,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(state)
        self.ledger = ledger if isinstance(ledger, Ledger) else None
        self.error: LedgerError | None = ledger if isinstance(ledger, LedgerError) else None
        self._session, self._heat, self._stops = session, heat, stops
        caps = state.caps
        #: How the ledger names the device: model and serial.
        self.device = f"{caps.model}/{caps.serial}" if caps.serial else caps.model
        self._wall_clock = wall_clock
        self._anchor: tuple[float, float] | None = None  # (policy time, Unix time)
        self._row: int | None = None  # the ledger row of the running session
        self._synced = -float("inf")
        self._over_written = False
        self._off_wall: float | None = None  # when everything went off, in Unix time

    def wall(self, now: float) -> float:
        """Unix time for the policy's ``now`` (anchored at the first call)."""
        if self._anchor is None:
            clock = self._wall_clock or wall_time
            self._anchor = (now, clock())
        return self._anchor[1] + (now - self._anchor[0])

    # ------------------------------------------------------------ refusals

    def output_block(self) -> SafetyRefusal | None:
        """Every output while the ledger cannot be used."""
        if self.error is None:
            return None
        return refusal(Limit.LEDGER, "on", None, str(self.error))

    # -------------------------------------------------------- reading back

    def sync(self, now: float) -> None:
        """Take on what the ledger says of this device before a session starts."""
        if self.ledger is None or self._session.active or now - self._synced < SYNC_S:
            return
        self._synced = now
        try:
            record = self.ledger.latest(self.device)
        except LedgerError as exc:
            self._fail(exc)
            return
        if record is not None:
            self._restore(record, now)

    def _restore(self, record: SessionRecord, now: float) -> None:
        wall = self.wall(now)
        updated = min(record.updated, wall)
        # A host that went away while on: the device stopped soon after its last write.
        off = min(record.off_since if record.off_since is not None else updated, wall)
        since_off = wall - off
        rest = self.state.limits.rest_s
        session = self._session
        if since_off < rest and (record.on_s > 0 or record.over):
            session.active = True
            session.on_s = max(session.on_s, record.on_s)
            session.contact_s = max(session.contact_s, record.contact_s)
            session.over = session.over or record.over
            session.off_since = now - since_off
            logger.warning(
                "%s: carrying on the session from the ledger (%.0f s used, off for %.0f s)",
                self.device,
                record.on_s,
                since_off,
            )
        dose = self._heat.dose
        before = dose.minutes
        dose.minutes = record.dose_min
        dose.advance(wall - updated, None)  # the pad cooled since
        dose.minutes = max(before, dose.minutes)

    # ------------------------------------------------------------ writing

    def outputs_changed(self, was_on: bool, now: float) -> None:
        """Open the session's row when it starts; write it whenever the outputs change."""
        if self.ledger is None:
            return
        on = self.state.outputs_on
        if on and self._row is None and self._session.active:
            try:
                self._row = self.ledger.start_session(
                    self.device, self.state.caps.model, self.wall(now), self._session.on_s
                )
            except LedgerError as exc:
                self._fail(exc)
                return
        if on:
            self._off_wall = None
        elif was_on or self._off_wall is None:
            self._off_wall = self.wall(now)
        if was_on and not on:
            reason = self.state.stop_owed or "stopped by the host"
            self._write(now, end_reason=reason)
        elif was_on:
            self._record(now)  # levels changing while on: the status rate, not a turn
        else:
            self._write(now)

    def observe_status(self, status: DeviceStatus, now: float) -> None:
        """Record telemetry and the session's clocks at the status rate."""
        if self.ledger is None or self._row is None:
            return
        wall = self.wall(now)
        sample = Sample(wall, status.intensities, status.heat_target_c, status.temperature_c)
        self._record(now, temperature_c=status.temperature_c, sample=sample)

    def observe_event(self, event: DeviceEvent, now: float) -> None:
        """Record events that change what the outputs do."""
        kind = event.kind
        if event.raised and (kind.invalidates_outputs or kind is EventKind.LINK_LOST):
            self.note(kind.value, event.detail or kind.stop_reason, now)

    def evaluate(self, now: float) -> None:
        """Write the moment the session uses its time, and close the row after the rest."""
        if self._row is None:
            return
        if self._session.over and not self._over_written:
            self._over_written = True
            self._write(now)
        if not self._session.active:
            self._write(now)
            self._row = None
            self._over_written = False

    def note(self, kind: str, detail: str, now: float) -> None:
        """Record a refusal, a stop or an event (never raises)."""
        if self.ledger is None:
            return
        try:
            self.ledger.add_event(self.device, self._row, self.wall(now), kind, detail)
        except LedgerError as exc:
            self._fail(exc)

    def _update(
        self, now: float, end_reason: str | None = None, temperature_c: float | None = None
    ) -> SessionUpdate:
        session = self._session
        return SessionUpdate(
            self.wall(now),
            on_s=session.on_s,
            contact_s=session.contact_s,
            over=session.over,
            off_since=None if self.state.outputs_on else self._off_wall,
            dose_min=self._heat.dose.minutes,
            levels=tuple(self.state.levels),
            heat_c=self.state.heat,
            temperature_c=temperature_c,
            end_reason=end_reason,
        )

    def _write(self, now: float, *, end_reason: str | None = None) -> None:
        """Write the session's row at once (a turn in its course)."""
        if self.ledger is None or self._row is None:
            return
        try:
            self.ledger.update(self._row, self._update(now, end_reason))
        except LedgerError as exc:
            self._fail(exc)

    def _record(
        self, now: float, *, temperature_c: float | None = None, sample: Sample | None = None
    ) -> None:
        """Write the session's row (and ``sample``) with the ledger's next batch."""
        if self.ledger is None or self._row is None:
            return
        try:
            self.ledger.record(self._row, self._update(now, temperature_c=temperature_c), sample)
        except LedgerError as exc:
            self._fail(exc)

    def _fail(self, exc: LedgerError) -> None:
        """Fail safe: no output until the ledger works again (a new policy opens it anew).

        Outputs that are on stop at once, as after an emergency stop.
        """
        logger.error("%s", exc)
        self.error = exc
        if self.state.outputs_on:
            self._stops.stop(f"session ledger: {exc}")
