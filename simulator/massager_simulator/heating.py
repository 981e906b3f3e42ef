"""The firmware's heater: the pad, its sensor, and the faults they latch.

:class:`Heating` moves the pad's temperature on (:func:`.heater.settle`),
reads the sensor (with its injected faults), runs the control loop
(:class:`.heater.HeaterControl`) and latches a sensor fault or an
over-temperature. It carries out SET_HEAT. A model without a heater has no
:class:`Heating`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from massager_protocols.nmp import EventCode, EventState, Fault, NackCode, SetHeat

from massager_simulator.faults import FaultConfig
from massager_simulator.heater import (
    OPEN_READING_C,
    OVERHEAT_CLEAR_C,
    SENSOR_RANGE_C,
    SHORT_READING_C,
    HeaterControl,
    sensor_noise,
    settle,
)
from massager_simulator.model import HeatSpec

if TYPE_CHECKING:
    from massager_simulator.device import SimulatedDevice

#: Nominal cell voltage used to turn heater watts into battery milliamps.
NOMINAL_V = 3.7

_HEAT_LOCKS = Fault.SENSOR | Fault.OVERHEAT


def _dc(celsius: float) -> int:
    """Degrees to the int16 tenths an EVENT value carries."""
    return max(-0x8000, min(0x7FFF, round(celsius * 10)))


class Heating:
    """The infrared heater of a :class:`SimulatedDevice`: pad, sensor and control."""

    def __init__(self, device: SimulatedDevice, spec: HeatSpec) -> None:
        self.device = device
        #: The pad's true temperature.
        self.pad_c = spec.ambient_c
        #: The firmware's closed loop (its ``target_c`` is 0 while the heater is off).
        self.control = HeaterControl(spec, self.pad_c)
        #: The current the heater draws at full duty.
        self.rated_ma = spec.power_w / NOMINAL_V * 1000.0
        self._stuck_reading = self.pad_c
        self.apply_fault(FaultConfig(), device.faults)

    @property
    def on(self) -> bool:
        """Whether the heater has a target."""
        return self.control.target_c > 0

    def off(self) -> None:
        """Heater off, controller reset."""
        self.control.off()

    def switch_off(self, now: float) -> None:
        """The firmware switches the heater off on its own (a fault, a low battery)."""
        self.control.off()
        self.device.supervisor.after_change(now)

    def applied(self) -> float:
        """The power fraction actually reaching the heater, 0..1."""
        control = self.control
        if control.target_c <= 0:
            return 0.0  # the heater's enable switch is open
        return 1.0 if self.device.faults.heater_stuck_on else control.duty

    def load_ma(self) -> float:
        """The current the heater draws now."""
        return self.rated_ma * self.applied()

    def advance(self, dt: float) -> None:
        """Move the pad's temperature, and the firmware's model of it, ``dt`` on."""
        self.pad_c = settle(self.pad_c, self.control.spec, self.applied(), dt)
        self.control.advance(dt)

    # -- the sensor ---------------------------------------------------------------

    def apply_fault(self, old: FaultConfig, new: FaultConfig) -> None:
        """The injected faults changed from ``old`` to ``new``: a sensor sticks now."""
        if new.sensor == "stuck" and (old.sensor != "stuck" or old.stuck_c != new.stuck_c):
            self._stuck_reading = new.stuck_c if new.stuck_c is not None else self.healthy_reading()

    def healthy_reading(self) -> float:
        """What a working sensor reads now."""
        noise = sensor_noise(self.device._t or 0.0, self.device.faults.seed)
        return round(self.pad_c + noise, 1)

    def sense(self) -> float:
        """What the sensor reads now, faults included."""
        mode = self.device.faults.sensor
        if mode == "ok":
            return self.healthy_reading()
        if mode == "stuck":
            return self._stuck_reading
        return OPEN_READING_C if mode == "open" else SHORT_READING_C

    def reading_dc(self) -> int | None:
        """The reading in tenths of a degree (``None``: an open or shorted sensor)."""
        sensed = self.sense()
        low, high = SENSOR_RANGE_C
        return round(sensed * 10) if low <= sensed <= high else None

    # -- the control tick ---------------------------------------------------------

    def tick(self, now: float, dt: float) -> None:
        """Read the sensor, latch or clear its faults, and run the control loop."""
        device = self.device
        supervisor, reports = device.supervisor, device.reports
        control = self.control
        sensed = self.sense()
        if not supervisor.flags & Fault.SENSOR:
            if not control.plausible(sensed, now):
                was_on = self.on
                supervisor.latch(Fault.SENSOR)
                self.switch_off(now)
                reports.event(now, EventCode.SENSOR_FAULT, EventState.RAISED, _dc(sensed))
                if was_on:
                    reports.broadcast(now)
                return
        elif device.faults.sensor == "ok":
            # The sensor was repaired: trust it again.
            control.trust(sensed, now)
            supervisor.unlatch(now, Fault.SENSOR, EventCode.SENSOR_FAULT, _dc(sensed))
        else:
            return
        if sensed >= control.cutoff_c and not supervisor.flags & Fault.OVERHEAT:
            supervisor.latch(Fault.OVERHEAT)
            self.switch_off(now)
            reports.event(now, EventCode.OVERHEAT, EventState.RAISED, _dc(sensed))
            reports.broadcast(now)
            return
        overheat = supervisor.flags & Fault.OVERHEAT
        if overheat and sensed <= control.spec.limit_c - OVERHEAT_CLEAR_C:
            supervisor.unlatch(now, Fault.OVERHEAT, EventCode.OVERHEAT, _dc(sensed))
        control.control(sensed, dt)

    # -- the command ----------------------------------------------------------------

    def set_heat(self, m: SetHeat, now: float) -> int:
        """SET_HEAT: 0 (ACK) or the NackCode; a refused one changes nothing."""
        device = self.device
        target = m.target_dc
        if target:
            info = device.info
            if target > info.heat_limit_dc or target < min(info.heat_targets_dc):
                return NackCode.OUT_OF_RANGE
            flags = device.supervisor.flags
            if flags & _HEAT_LOCKS:
                return NackCode.HEAT_LOCKED
            if flags & (Fault.LOW_BATTERY | Fault.BATTERY_CRITICAL):
                return NackCode.LOW_BATTERY
            self.control.target_c = target / 10.0
        else:
            self.control.off()
        device.supervisor.accepted(now, switched_on=target > 0)
        return 0
