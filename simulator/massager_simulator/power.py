"""The firmware's power: the battery's charge, the charger and the loads.

:class:`Power` counts the charge the loads draw (:class:`.battery.Battery`),
raises and clears the low-battery and shutdown levels, and reports the
charger. A mains-powered model has no :class:`Power`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from massager_protocols.nmp import EventCode, EventState, Fault

from massager_simulator.battery import Battery

if TYPE_CHECKING:
    from massager_simulator.device import SimulatedDevice

#: A level's hysteresis above its threshold before a battery event clears.
BATTERY_HYSTERESIS_PCT = 2


class Power:
    """The battery of a :class:`SimulatedDevice`, as its firmware watches it."""

    def __init__(self, device: SimulatedDevice, battery: Battery) -> None:
        self.device = device
        #: The cell.
        self.battery = battery

    def advance(self, dt: float) -> None:
        """Count ``dt`` seconds of charge in and out."""
        self.battery.advance(dt, self.device.faults.drain)

    def update_load(self, now: float) -> None:
        """Tell the cell what the motors and the heater draw now."""
        device = self.device
        spec = self.battery.spec
        load = spec.idle_ma + spec.motor_ma * device.outputs.load(now)
        if device.heating is not None:
            load += device.heating.load_ma()
        self.battery.load_ma = load

    def tick(self, now: float) -> None:
        """Raise or clear the low-battery and shutdown levels."""
        device = self.device
        supervisor, reports, heating = device.supervisor, device.reports, device.heating
        spec = self.battery.spec
        level = self.battery.level
        flags = supervisor.flags
        if not flags & Fault.LOW_BATTERY and level <= spec.low_pct:
            supervisor.latch(Fault.LOW_BATTERY)
            reports.event(now, EventCode.LOW_BATTERY, EventState.RAISED, level)
            if heating is not None and heating.on:
                # The heater is the largest load: it goes first.
                heating.switch_off(now)
                reports.broadcast(now)
        elif flags & Fault.LOW_BATTERY and level > spec.low_pct + BATTERY_HYSTERESIS_PCT:
            supervisor.unlatch(now, Fault.LOW_BATTERY, EventCode.LOW_BATTERY, level)
        if not flags & Fault.BATTERY_CRITICAL and level <= spec.shutdown_pct:
            supervisor.latch(Fault.BATTERY_CRITICAL)
            supervisor.stop_everything()
            reports.event(now, EventCode.SHUTDOWN, EventState.RAISED, level)
            reports.broadcast(now)
        elif flags & Fault.BATTERY_CRITICAL and level > spec.shutdown_pct + BATTERY_HYSTERESIS_PCT:
            supervisor.unlatch(now, Fault.BATTERY_CRITICAL, EventCode.SHUTDOWN, level)

    def set_charging(self, now: float, charging: bool) -> None:
        """Connect or disconnect the charger (EVENT CHARGER when that changes)."""
        battery = self.battery
        if battery.charging == charging:
            return
        battery.charging = charging
        state = EventState.RAISED if charging else EventState.CLEARED
        self.device.reports.event(now, EventCode.CHARGER, state, battery.level)
        self.device.reports.broadcast(now)
        self.device._poke()
