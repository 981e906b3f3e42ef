"""What a simulated device shows a test bench without a link.

:class:`DeviceReadings` is the read-only face of
:class:`~massager_simulator.device.SimulatedDevice`: its outputs, temperatures,
battery, flags, auto-off count, STATUS and EVENT log. Reading a value first
brings the physics up to the running loop's time.
"""

from __future__ import annotations

import abc
import asyncio
from collections import deque
from typing import TYPE_CHECKING

from massager_protocols.nmp import Event, Fault, Status

if TYPE_CHECKING:
    from massager_simulator.heating import Heating
    from massager_simulator.outputs import Outputs
    from massager_simulator.power import Power
    from massager_simulator.reports import Reports
    from massager_simulator.supervisor import Supervisor


class DeviceReadings(abc.ABC):
    """The readings of a simulated device, from the parts of its firmware."""

    outputs: Outputs
    heating: Heating | None
    power: Power | None
    supervisor: Supervisor
    reports: Reports
    _t: float | None  # time physics was last advanced to

    @abc.abstractmethod
    def _advance(self, now: float) -> None:
        """Move the physics forward to ``now``."""

    @abc.abstractmethod
    def _status(self, now: float) -> Status:
        """The STATUS at ``now``."""

    def _observe(self) -> float:
        """The loop's time now, the physics brought up to it (off a loop: the last time)."""
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:
            return self._t if self._t is not None else 0.0
        if self._t is not None:
            self._advance(now)
        return now

    @property
    def levels(self) -> tuple[float, ...]:
        """Each zone's actual motor output now, 0..intensity_steps (ramps, waveforms)."""
        return self.outputs.levels(self._observe())

    @property
    def intensities(self) -> tuple[int, ...]:
        """Each zone's actual output rounded, as STATUS reports it."""
        return tuple(round(level) for level in self.outputs.levels(self._observe()))

    @property
    def commanded(self) -> tuple[int, ...]:
        """Each zone's commanded intensity."""
        return self.outputs.commanded

    @property
    def temperature_c(self) -> float | None:
        """The heater pad's true temperature (``None`` without a heater)."""
        self._observe()
        return None if self.heating is None else self.heating.pad_c

    @property
    def sensed_temperature_c(self) -> float | None:
        """What the temperature sensor reads now (``None`` without a heater)."""
        self._observe()
        return None if self.heating is None else self.heating.sense()

    @property
    def heat_target_c(self) -> float | None:
        """The heater target, or ``None`` when the heater is off."""
        heating = self.heating
        return heating.control.target_c if heating is not None and heating.on else None

    @property
    def heater_duty(self) -> float:
        """The power fraction actually reaching the heater, 0..1."""
        return 0.0 if self.heating is None else self.heating.applied()

    @property
    def battery_pct(self) -> float | None:
        """State of charge in percent (``None`` on mains power)."""
        self._observe()
        return None if self.power is None else self.power.battery.pct

    @property
    def battery_mv(self) -> int:
        """Battery terminal voltage in mV (0 on mains power)."""
        self._observe()
        return 0 if self.power is None else self.power.battery.mv

    @property
    def charging(self) -> bool:
        """Whether the charger is connected."""
        return self.power is not None and self.power.battery.charging

    @property
    def fault_flags(self) -> Fault:
        """Fault and latch flags, as STATUS reports them."""
        return self.supervisor.flags

    @property
    def is_on(self) -> bool:
        """Whether any motor or the heater is on."""
        return self.outputs.on or (self.heating is not None and self.heating.on)

    @property
    def auto_off_remaining_s(self) -> float:
        """Seconds until auto-off (0 when nothing is on)."""
        now = self._observe()
        auto_off_at = self.supervisor.auto_off_at
        return 0.0 if auto_off_at is None else max(0.0, auto_off_at - now)

    @property
    def event_log(self) -> deque[tuple[float, Event]]:
        """Recent EVENTs the device emitted, ``(time, event)``, newest last."""
        return self.reports.log

    def status(self) -> Status:
        """The STATUS the device would send now."""
        return self._status(self._observe())
