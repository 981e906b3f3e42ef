"""What keeps the device safe on its own: latches, control, watchdog and auto-off.

:class:`Supervisor` holds the fault and latch flags STATUS reports, knows which
link controls the device while something is on, counts the watchdog and the
auto-off, and tracks the switch between on and off. It carries out STOP_ALL,
KEEPALIVE and SET_AUTO_OFF. The rules it keeps are in the module
documentation of :mod:`massager_simulator.device`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from massager_protocols.nmp import (
    EventCode,
    EventState,
    Fault,
    Keepalive,
    NackCode,
    SetAutoOff,
    StopAll,
)

if TYPE_CHECKING:
    from massager_simulator.device import SimulatedDevice

#: Float noise forgiven when a deadline is compared with the loop's time.
TIME_EPS = 1e-9


class Supervisor:
    """The latches, the controlling link, the watchdog and the auto-off of a device."""

    def __init__(self, device: SimulatedDevice) -> None:
        self.device = device
        #: Fault and latch flags, as STATUS reports them.
        self.flags = Fault(0)
        #: The auto-off that applies, in seconds (SET_AUTO_OFF).
        self.auto_off_s = device.model.auto_off_default_s
        #: When something was switched on (``None``: everything is off).
        self.on_since: float | None = None
        #: When the last frame that feeds the watchdog arrived.
        self.last_rx = 0.0
        #: The link in control while something is on (``None``: no link, or one host).
        self.controller: object | None = None

    @property
    def watchdog_at(self) -> float:
        """When the watchdog stops everything unless a frame feeds it first."""
        return self.last_rx + self.device.model.watchdog_ms / 1000.0

    @property
    def auto_off_at(self) -> float | None:
        """When auto-off stops everything (``None``: nothing is on)."""
        return None if self.on_since is None else self.on_since + self.auto_off_s

    def heard(self, now: float, link: object | None) -> None:
        """A valid frame arrived on ``link``: it feeds the watchdog when that link
        controls the device (or nothing does, or the protocol has one host)."""
        controller = self.controller
        if link is None or controller is None or link is controller:
            self.last_rx = now

    def latch(self, flag: Fault) -> None:
        """Raise a fault or latch flag."""
        self.flags |= flag

    def unlatch(self, now: float, flag: Fault, code: EventCode, value: int = 0) -> None:
        """Clear ``flag`` if it is raised, and report the EVENT ``code`` cleared."""
        if self.flags & flag:
            self.flags &= ~flag
            self.device.reports.event(now, code, EventState.CLEARED, value)

    def stop_everything(self) -> None:
        """Every motor and the heater off; nobody is in control any more."""
        device = self.device
        device.outputs.stop()
        if device.heating is not None:
            device.heating.off()
        self.on_since = None
        self.controller = None

    def halt(self, now: float, flag: Fault, code: EventCode, value: int) -> None:
        """A safety stop by the device: everything off, latch, EVENT, STATUS."""
        self.stop_everything()
        self.latch(flag)
        self.device.reports.event(now, code, EventState.RAISED, value)
        self.device.reports.broadcast(now)

    def after_change(self, now: float) -> None:
        """Track the on/off transition after outputs changed."""
        device = self.device
        on = device.is_on
        if on and self.on_since is None:
            self.on_since = now
            device.reports.switched_on(now)
            device._poke()
        elif not on and self.on_since is not None:
            self.on_since = None
            self.controller = None
            device.reports.report_off(now)
        device._update_load(now)

    def accepted(self, now: float, *, switched_on: bool) -> None:
        """An output command was accepted; switching something on clears the
        watchdog and auto-off latches."""
        if switched_on:
            for flag, code in (
                (Fault.WATCHDOG, EventCode.WATCHDOG_STOP),
                (Fault.AUTO_OFF, EventCode.AUTO_OFF),
            ):
                self.unlatch(now, flag, code)
        self.after_change(now)

    def tick(self, now: float) -> bool:
        """Fire the watchdog or the auto-off if due; whether either stopped the device."""
        auto_off_at = self.auto_off_at
        if auto_off_at is None:
            return False
        if now >= self.watchdog_at - TIME_EPS:
            self.halt(now, Fault.WATCHDOG, EventCode.WATCHDOG_STOP, 0)
        elif now >= auto_off_at - TIME_EPS:
            self.halt(now, Fault.AUTO_OFF, EventCode.AUTO_OFF, self.auto_off_s)
        else:
            return False
        return True

    # Commands: 0 (ACK) or the NackCode; a refused one changes nothing.

    def stop_all(self, m: StopAll, now: float) -> int:
        """STOP_ALL: never refused."""
        device = self.device
        was_on = device.is_on
        self.stop_everything()
        device._update_load(now)
        if was_on:
            device.reports.report_off(now)
        return 0

    def keepalive(self, m: Keepalive, now: float) -> int:
        """KEEPALIVE: the frame itself fed the watchdog."""
        return 0

    def set_auto_off(self, m: SetAutoOff, now: float) -> int:
        """SET_AUTO_OFF: a new limit, counted from when something was switched on."""
        model = self.device.model
        if m.seconds > model.auto_off_max_s:
            return NackCode.OUT_OF_RANGE
        self.auto_off_s = m.seconds or model.auto_off_default_s
        self.device._poke()  # a shorter limit may already have run out
        return 0
