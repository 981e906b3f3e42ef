"""What the firmware tells its hosts: EVENTs, STATUS and when to send them.

:class:`Reports` logs each EVENT and hands it to the personality, builds the
STATUS from the other parts, and keeps the telemetry schedule: a report about
once a second while anything is on, and one more when everything has gone off
(for a personality that wants it).
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

from massager_protocols.nmp import Event, EventCode, EventState, Fault, Status

from massager_simulator.supervisor import TIME_EPS

if TYPE_CHECKING:
    from massager_simulator.device import SimulatedDevice

#: Unprompted STATUS period while something is on.
TELEMETRY_S = 1.0
#: How many recent EVENTs the device keeps (``SimulatedDevice.event_log``).
EVENT_LOG_SIZE = 256


class Reports:
    """The EVENTs, STATUS and telemetry schedule of a :class:`SimulatedDevice`."""

    def __init__(self, device: SimulatedDevice) -> None:
        self.device = device
        #: Recent EVENTs the device emitted, ``(time, event)``, newest last.
        self.log: deque[tuple[float, Event]] = deque(maxlen=EVENT_LOG_SIZE)
        #: When the next STATUS is due while something is on.
        self.next_status = 0.0
        #: When the report after everything went off is due (the motors wind down first).
        self.off_report_at: float | None = None

    def event(self, now: float, code: EventCode, state: EventState, value: int = 0) -> None:
        """Log an EVENT and send it (the personality decides how)."""
        value = max(-0x8000, min(0x7FFF, value))  # the field is an int16
        event = Event(code=int(code), state=int(state), value=value)
        self.log.append((now, event))
        self.device.personality.event(now, event)

    def status(self, now: float) -> Status:
        """The STATUS at ``now``."""
        device = self.device
        heating, supervisor = device.heating, device.supervisor
        battery = None if device.power is None else device.power.battery
        remaining = 0
        auto_off_at = supervisor.auto_off_at
        if auto_off_at is not None:
            left = auto_off_at - now
            # Whole seconds, rounded up; the epsilon keeps float noise from adding one.
            remaining = max(0, min(0xFFFF, math.ceil(left - 1e-6)))
        return Status.make(
            battery_pct=None if battery is None else battery.level,
            charging=battery is not None and battery.charging,
            battery_mv=0 if battery is None else battery.mv,
            faults=int(supervisor.flags),
            heat_target_dc=0 if heating is None else round(heating.control.target_c * 10),
            # 6.4: no reading (-2048) while the sensor fault is latched, even from a
            # sensor stuck at a plausible value: the device no longer trusts it.
            temperature_dc=(
                None if heating is None or supervisor.flags & Fault.SENSOR else heating.reading_dc()
            ),
            auto_off_s=remaining,
            intensities=[round(level) for level in device.outputs.levels(now)],
        )

    def broadcast(self, now: float) -> None:
        """Report the state to every link now (and restart the telemetry period)."""
        self.next_status = now + TELEMETRY_S
        if self.device.link_count:
            self.device.personality.status(now)

    def switched_on(self, now: float) -> None:
        """Something was switched on: telemetry from now, no report of going off."""
        self.off_report_at = None  # on again before the motors had wound down
        self.next_status = now + TELEMETRY_S

    def report_off(self, now: float) -> None:
        """One more report when everything has gone off, so watching hosts see it
        (for a personality that wants it).

        Motors switched off with SET_OUTPUT wind down along their ramp: the report
        goes out when they have stopped.
        """
        device = self.device
        if not device.personality.reports_when_off:
            return
        settled = device.outputs.settled_at(now)
        if settled <= now + TIME_EPS:
            self.off_report_at = None
            self.broadcast(now)
        else:
            self.off_report_at = settled
            device._poke()

    def tick(self, now: float) -> None:
        """Send the report that is due: telemetry while on, the one after going off."""
        if self.device.supervisor.on_since is not None:
            if now >= self.next_status - TIME_EPS:
                self.broadcast(now)
        elif self.off_report_at is not None and now >= self.off_report_at - TIME_EPS:
            self.off_report_at = None
            self.broadcast(now)

    def next_due(self) -> float | None:
        """When :meth:`tick` has a report to send (``None``: none is scheduled)."""
        if self.device.supervisor.on_since is not None:
            return self.next_status
        return self.off_report_at
