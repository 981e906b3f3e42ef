"""Host-side values shared by the client, safety, programs, CLI and bridge.

They are protocol-neutral: an NMP/1 STATUS, a Tuya data point report and a "yh"
frame all become a :class:`DeviceStatus`.
"""

from __future__ import annotations

import dataclasses
import enum


class Waveform(enum.Enum):
    """How a zone's motor follows its level."""

    CONSTANT = "constant"
    PULSE = "pulse"  #: on for half the period, off for the other half
    WAVE = "wave"  #: a smooth swell between 0 and the level every period


@dataclasses.dataclass(frozen=True, slots=True)
class PatternStep:
    """One step of a looping pattern: a fraction of the level held for a time."""

    level: float  #: 0.0 .. 1.0 of the intensity the pattern is played at
    duration_s: float  #: > 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.level <= 1.0:
            raise ValueError(f"pattern step level {self.level} is outside 0.0..1.0")
        if not self.duration_s > 0:
            raise ValueError(f"pattern step duration {self.duration_s} s must be positive")


@dataclasses.dataclass(frozen=True, slots=True)
class Pattern:
    """A short intensity loop the device plays on its own clock."""

    steps: tuple[PatternStep, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a pattern needs at least one step")

    @property
    def loop_s(self) -> float:
        """Length of one loop in seconds."""
        return sum(s.duration_s for s in self.steps)


class EventKind(enum.Enum):
    """What a device event reports (protocol-neutral names)."""

    OVERHEAT = "overheat"
    SENSOR_FAULT = "sensor_fault"
    LOW_BATTERY = "low_battery"
    WATCHDOG_STOP = "watchdog_stop"
    AUTO_OFF = "auto_off"
    BUTTON = "button"
    SHUTDOWN = "shutdown"
    CHARGER = "charger"
    MOTOR_FAULT = "motor_fault"
    LINK_STOP = "link_stop"  #: another host stopped the outputs
    LINK_LOST = "link_lost"  #: raised by the host when the link drops
    LINK_RESTORED = "link_restored"
    SAFETY_STOP = "safety_stop"  #: raised by the host's safety policy
    #: Raised by the host: the device's status shows it stopped, and this host did not
    #: stop it (another host or link sent the stop, or a device that sends no event).
    EXTERNAL_STOP = "external_stop"
    UNKNOWN = "unknown"

    # What each kind means for the outputs, said once here for every part of the SDK.

    @property
    def stops_outputs(self) -> bool:
        """The device switched every output off by itself (watchdog, auto-off, button, shutdown)."""
        return self in _STOPS_OUTPUTS

    @property
    def heat_fault(self) -> bool:
        """A heater fault: the heat is off and stays locked until the fault clears."""
        return self in _HEAT_FAULTS

    @property
    def latches_stop(self) -> bool:
        """Stops everything whatever was on, until the user resumes (button, motor fault)."""
        return self in _LATCHES_STOP

    @property
    def stops_if_on(self) -> bool:
        """Stops everything when anything was on: a stop the device made, or a lost link."""
        return self in _STOPS_OUTPUTS or self is EventKind.LINK_LOST

    @property
    def ends_program(self) -> bool:
        """A playing program ends: the user, the device's auto-off or the host's policy stopped it.

        A watchdog stop is not among them: it follows a lost link, and a program pauses over
        a lost link and carries on when the link is back.
        """
        return self in _ENDS_PROGRAM

    @property
    def invalidates_outputs(self) -> bool:
        """The outputs are no longer what the host asked: a stop, a fault or a safety action."""
        return self in _INVALIDATES_OUTPUTS

    @property
    def stop_reason(self) -> str:
        """Why the outputs are off after this event, in words."""
        return _STOP_REASONS.get(self, f"device event {self.value}")


_STOPS_OUTPUTS = frozenset(
    {
        EventKind.WATCHDOG_STOP,
        EventKind.AUTO_OFF,
        EventKind.BUTTON,
        EventKind.SHUTDOWN,
        EventKind.EXTERNAL_STOP,
        EventKind.LINK_STOP,
    }
)
_HEAT_FAULTS = frozenset({EventKind.OVERHEAT, EventKind.SENSOR_FAULT})
_LATCHES_STOP = frozenset({EventKind.BUTTON, EventKind.MOTOR_FAULT})
_ENDS_PROGRAM = frozenset(
    {
        EventKind.BUTTON,
        EventKind.AUTO_OFF,
        EventKind.SHUTDOWN,
        EventKind.SAFETY_STOP,
        EventKind.EXTERNAL_STOP,
        EventKind.LINK_STOP,
    }
)
_INVALIDATES_OUTPUTS = (
    _STOPS_OUTPUTS | _HEAT_FAULTS | {EventKind.MOTOR_FAULT, EventKind.SAFETY_STOP}
)
_STOP_REASONS = {
    EventKind.WATCHDOG_STOP: "the device watchdog stopped the outputs",
    EventKind.AUTO_OFF: "the device's auto-off stopped the outputs",
    EventKind.SHUTDOWN: "the device shut down",
    EventKind.LINK_STOP: "another host stopped the outputs",
    EventKind.LINK_LOST: "the link to the device was lost",
    EventKind.BUTTON: "the device button was pressed",
    EventKind.MOTOR_FAULT: "the device reports a motor fault",
    EventKind.OVERHEAT: "the device reports overheating",
    EventKind.SENSOR_FAULT: "the device reports a temperature sensor fault",
    EventKind.SAFETY_STOP: "the host's safety policy stopped the outputs",
    EventKind.EXTERNAL_STOP: "another host or link stopped the device",
}


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceEvent:
    """Something happened: on the device (button, overheat...) or on the host side."""

    kind: EventKind
    active: bool | None  #: raised (True), cleared (False) or momentary (None)
    value: float | None = None  #: temperature in C, battery %, seconds... when given
    detail: str = ""
    time: float = 0.0  #: the event loop's clock when the host received it

    @property
    def raised(self) -> bool:
        """Raised or momentary: the condition happened (a cleared one did not)."""
        return self.active is not False


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A snapshot of the device, as last reported."""

    intensities: tuple[int, ...]  #: level of each zone, in zone order
    heat_target_c: float | None  #: ``None`` when the heater is off
    temperature_c: float | None  #: ``None`` without a sensor reading
    battery_pct: int | None  #: ``None`` on mains power
    battery_mv: int | None
    charging: bool
    auto_off_s: int  #: seconds until the device switches itself off (0 when idle)
    faults: frozenset[str]  #: fault names, e.g. ``{"overheat", "low_battery"}``
    time: float = 0.0  #: the event loop's clock when the host received it

    @property
    def running(self) -> bool:
        """Whether any motor or the heater is on."""
        return any(self.intensities) or self.heat_target_c is not None
