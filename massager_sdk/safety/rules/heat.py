"""Heat: the temperature ceilings, contact time, thermal dose, stale readings and heat faults."""

from __future__ import annotations

import logging
import math

from massager_sdk.errors import SafetyRefusal
from massager_sdk.model import DeviceEvent, DeviceStatus, EventKind
from massager_sdk.safety.limits import CONTACT_LIMIT_C, CONTACT_LONG_S, Limit
from massager_sdk.safety.rules.base import TIME_EPS, PolicyState, Rule, refusal
from massager_sdk.safety.rules.session import SessionClock
from massager_sdk.safety.thermal import ThermalDose

logger = logging.getLogger("massager_sdk.safety")

#: Below this reported temperature a switched-off heater counts as cooling: the
#: thermal dose decays instead of growing.
COOLING_BELOW_C = 40.0

_HEAT_FAULT_NAMES = {
    "overheat": "overheat",
    "sensor": "sensor_fault",
    "sensor_fault": "sensor_fault",
}


class HeatGuard(Rule):
    """Keeps the heater within its ceilings and the thermal dose below its limit."""

    def __init__(self, state: PolicyState, session: SessionClock) -> None:
        super().__init__(state)
        self._session = session
        self._heat_on_since = 0.0
        self._heating = False
        self.reading: float | None = None  #: the last reported temperature
        self._reading_time = -math.inf
        self.dose = ThermalDose(state.limits.dose_half_life_s)
        self._dose_locked = False
        self._stale_locked = False
        self._device_faults: set[str] = set()
        self._host_faults: set[str] = set()
        self._fault: str | None = None  # the latched heat fault

    # ------------------------------------------------------------- ceilings

    def allowed_max(self) -> float:
        """The highest heat target allowed now, leaving blocks aside."""
        heat = self.state.caps.heat
        assert heat is not None
        ceiling = min(heat.limit_c, self.state.limits.heat_max_c)
        if self._session.contact_s >= CONTACT_LONG_S - TIME_EPS:
            ceiling = min(ceiling, CONTACT_LIMIT_C)
        return ceiling

    def out_of_range(self, target: float) -> SafetyRefusal | None:
        """A target above what the device can heat to (checked before any block)."""
        heat = self.state.caps.heat
        assert heat is not None
        if target <= heat.limit_c:
            return None
        detail = f"{self.state.caps.model} heats to at most {heat.limit_c} C"
        return refusal(Limit.DEVICE_HEAT_LIMIT, target, self.allowed_max(), detail)

    def heat_block(self) -> SafetyRefusal | None:
        """Any heat while a fault is latched, the reading is stale or the dose is at its limit."""
        if self._fault is not None:
            detail = f"{self._fault}; heat stays off until the fault clears and resume()"
            return refusal(Limit.HEAT_FAULT, "on", None, detail)
        if self._stale_locked:
            detail = "no temperature reading while heating; heat is allowed again after one arrives"
            return refusal(Limit.TEMPERATURE_STALE, "on", None, detail)
        if self._dose_locked:
            limit = self.state.limits.dose_limit_fraction
            wait = self.dose.seconds_to_decay(limit / 2)
            detail = (
                f"thermal dose {self.dose.fraction:.1%} of the burn threshold reached its "
                f"limit {limit:.0%}; heat is allowed again below {limit / 2:.0%}, "
                f"in about {wait / 60:.0f} min"
            )
            return refusal(Limit.THERMAL_DOSE, "on", None, detail)
        return None

    def heat_refusal(self, target: float) -> SafetyRefusal | None:
        """``heat_max_c``, then the lower ceiling after long contact."""
        heat_max = self.state.limits.heat_max_c
        if target > heat_max:
            detail = f"heat_max_c is {heat_max} C (docs/safety.md)"
            return refusal(Limit.HEAT_MAX, target, self.allowed_max(), detail)
        if target > self.allowed_max():
            detail = (
                f"after {CONTACT_LONG_S / 60:g} min of heat contact at most "
                f"{CONTACT_LIMIT_C} C (IEC 60601-1 practice)"
            )
            return refusal(Limit.HEAT_CONTACT, target, self.allowed_max(), detail)
        return None

    # ------------------------------------------------------------ over time

    def dose_temperature(self) -> float | None:
        """The skin-side temperature the dose assumes now (``None``: cooling)."""
        heat = self.state.heat
        if heat is not None:
            # Assume the pad is at its target at once; a reading above it wins.
            if self.reading is not None and self._reading_time >= self._heat_on_since:
                return max(heat, self.reading)
            return heat
        if self.reading is not None and self.reading >= COOLING_BELOW_C:
            # Heater off but still hot (cooling down, or stuck on): count it while fresh.
            return self.reading if self.state.now < self._fresh_until else None
        return None

    @property
    def _fresh_until(self) -> float:
        return self._reading_time + self.state.limits.temperature_timeout_s

    @property
    def _stale_deadline(self) -> float:
        since = max(self._heat_on_since, self._reading_time)
        return since + self.state.limits.temperature_timeout_s

    def advance(self, dt: float) -> None:
        """Grow or decay the thermal dose over ``dt``."""
        temp = self.dose_temperature()
        if self.state.heat is None and temp is not None:
            # A hot reading counts only until it goes stale; then the pad cools.
            hot = min(dt, self._fresh_until - self.state.now)
            self.dose.advance(hot, temp)
            self.dose.advance(dt - hot, None)
        else:
            self.dose.advance(dt, temp)

    def evaluate(self, now: float) -> None:
        """Lock heat at the dose limit or a stale reading; owe ``heat_off`` while a lock holds."""
        limits = self.state.limits
        temp = self.dose_temperature()
        if not self._dose_locked:
            limit = limits.dose_limit_fraction
            if temp is not None:
                reached = self.dose.seconds_until(limit, temp) <= TIME_EPS
            else:
                reached = self.dose.fraction >= limit * (1 - 1e-9)
            if reached:
                self._dose_locked = True
                logger.warning(
                    "thermal dose %.1f%% of the burn threshold: heat locked",
                    100 * self.dose.fraction,
                )
        elif self.dose.fraction <= limits.dose_limit_fraction / 2:
            self._dose_locked = False
        heat = self.state.heat
        if heat is None:
            return
        if self.state.caps.has_temperature_sensor and now >= self._stale_deadline - TIME_EPS:
            if not self._stale_locked:
                logger.warning("no temperature reading while heating: heat off")
            self._stale_locked = True
        reason = None
        if self._stale_locked:
            reason = "no temperature reading while heating"
        elif self._dose_locked:
            reason = "thermal dose limit reached"
        elif self._fault is not None:
            reason = f"heat fault: {self._fault}"
        elif heat > self.allowed_max():
            reason = f"{CONTACT_LONG_S / 60:g} min of heat contact: at most {CONTACT_LIMIT_C} C"
        if reason is not None:
            self.state.owe_heat_off(reason)

    def deadlines(self, now: float) -> list[float]:
        """The stale reading, the dose limit and the long-contact ceiling, while heating."""
        heat = self.state.heat
        if heat is None:
            return []
        due = []
        if self.state.caps.has_temperature_sensor:
            due.append(self._stale_deadline)
        temp = self.dose_temperature()
        if temp is not None and not self._dose_locked:
            limit = self.state.limits.dose_limit_fraction
            due.append(now + self.dose.seconds_until(limit, temp))
        if heat > CONTACT_LIMIT_C:
            due.append(now + CONTACT_LONG_S - self._session.contact_s)
        return due

    # ------------------------------------------------------- what happened

    def outputs_changed(self, was_on: bool, now: float) -> None:
        """Note when the heater went on."""
        heating = self.state.heat is not None
        if heating and not self._heating:
            self._heat_on_since = now
        self._heating = heating

    def observe_status(self, status: DeviceStatus, now: float) -> None:
        """Take the reading and the device's heat fault flags."""
        if status.temperature_c is not None:
            self._take_reading(status.temperature_c, now)
        names = {f.lower() for f in status.faults}
        self._device_faults = {_HEAT_FAULT_NAMES[f] for f in names if f in _HEAT_FAULT_NAMES}
        self._refresh_faults()

    def observe_event(self, event: DeviceEvent, now: float) -> None:
        """An overheat or sensor fault latches the heat lock (a clearing report clears the flag)."""
        kind = event.kind
        if not kind.heat_fault:
            return
        name = kind.value  # "overheat" or "sensor_fault"
        if event.active:
            self._device_faults.add(name)
        elif event.active is False:
            self._device_faults.discard(name)  # a one-off report clears nothing
        if event.raised:
            self._latch(name)
        if event.value is not None and kind is EventKind.OVERHEAT:
            self._take_reading(event.value, now)
        self._refresh_faults()

    def resume(self, now: float) -> None:
        """Restart the staleness timer; lift a heat fault that has cleared."""
        self._stale_locked = False  # the staleness timer restarts when heat goes on again
        if self._fault is not None and not self._active_faults:
            logger.warning("heat fault lock lifted: %s", self._fault)
            self._fault = None

    def snapshot(self, now: float) -> dict[str, object]:
        """The heater's fields (whether heat is allowed is the engine's: it asks every rule)."""
        active = tuple(sorted(self._active_faults))
        faults = active or ((self._fault,) if self._fault is not None else ())
        return {
            "heat_on": self.state.heat is not None,
            "heat_target_c": self.state.heat,
            "temperature_c": self.reading,
            "thermal_dose_min": self.dose.minutes,
            "thermal_dose_fraction": self.dose.fraction,
            "thermal_dose_limit_fraction": self.state.limits.dose_limit_fraction,
            "heat_faults": faults,
        }

    # ------------------------------------------------------------ internals

    @property
    def _active_faults(self) -> set[str]:
        return self._device_faults | self._host_faults

    def _take_reading(self, temp_c: float, now: float) -> None:
        if not math.isfinite(temp_c):
            return
        self.reading = temp_c
        self._reading_time = now
        self._stale_locked = False
        heat = self.state.caps.heat
        if heat is not None:
            limits = self.state.limits
            threshold = min(heat.limit_c, limits.heat_max_c + limits.overtemp_margin_c)
            if temp_c > threshold:
                self._host_faults.add("overtemperature")
            else:
                self._host_faults.discard("overtemperature")

    def _refresh_faults(self) -> None:
        for name in sorted(self._active_faults):
            self._latch(name)

    def _latch(self, name: str) -> None:
        if self._fault is None:
            self._fault = name
            logger.warning("heat fault %s: heat off and locked", name)
            # Sent even when the heater is already off: the device may think otherwise.
            self.state.owe_heat_off(f"heat fault: {name}")
