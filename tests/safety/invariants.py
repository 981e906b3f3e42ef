"""Safety invariants, checked on what a device actually does.

:class:`SafetyMonitor` watches a device from outside the policy: the states it is
put in (:meth:`~SafetyMonitor.device`), the temperatures it reports, its faults
and events, stops and resumes, and the link. It recomputes the rules on its own
(zone maxima, ramps, session on-time, rest, heat limits, contact time, thermal
dose, stale readings, stops) and raises ``AssertionError`` as soon as one is
broken. It works the same against the policy alone (``tests/safety/host.py``)
or against the simulator driven through the client, where ``slack_s`` allows for
the time a real sender takes to carry out a required action.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.model import EventKind
from massager_sdk.safety import (
    CONTACT_LIMIT_C,
    CONTACT_LONG_S,
    HealthProfile,
    SafetyLimits,
)
from massager_sdk.safety.thermal import BURN_MINUTES, ThermalDose, dose_rate

_EPS = 1e-6
#: Events after which everything must be off, when anything was on.
_STOP_WHEN_ON = {
    EventKind.LINK_LOST,
    EventKind.WATCHDOG_STOP,
    EventKind.AUTO_OFF,
    EventKind.SHUTDOWN,
}
#: Events after which everything must be off, always.
_STOP_ALWAYS = {EventKind.BUTTON, EventKind.MOTOR_FAULT}


class SafetyMonitor:
    """Raises ``AssertionError`` the moment a device's behaviour breaks a safety rule."""

    def __init__(
        self,
        caps: DeviceCapabilities,
        limits: SafetyLimits | None = None,
        profile: HealthProfile | None = None,
        *,
        slack_s: float = 0.0,
    ) -> None:
        self.caps = caps
        self.profile = profile or HealthProfile()
        base = limits or SafetyLimits()
        self.limits = base.safest(self.profile.limits) if self.profile.limits else base
        self.slack_s = slack_s
        n = len(caps.zones)
        self.levels = [0] * n
        self.heat: float | None = None
        self.time: float | None = None
        self.last_rise = [-math.inf] * n
        self.auto_off_s = float(self.limits.auto_off_s)
        self.on_s = 0.0
        self.contact_s = 0.0
        self.session_active = False
        self.session_over = False
        self.over_at = math.inf  #: when the session's time ran out
        self.off_since: float | None = None
        self.link_up = True
        self.stop_deadline: float | None = None  #: set while a stop is in force
        self.stop_at = math.inf
        self.heat_lock_deadline: float | None = None  #: set while a heat fault is latched
        self.heat_lock_at = math.inf
        self.faults: set[str] = set()
        self.heat_on_since = -math.inf
        self.reading_time = -math.inf
        self.dose = ThermalDose(self.limits.dose_half_life_s)
        self.states_checked = 0  #: device states seen, so a test can tell it checked something

    # ----------------------------------------------------------------- inputs

    @property
    def on(self) -> bool:
        """Whether any motor or the heater is on."""
        return any(self.levels) or self.heat is not None

    def tick(self, now: float) -> None:
        """Time passes: check every rule that time alone can break."""
        if self.time is None:
            self.time = now
        dt = now - self.time
        assert dt >= -_EPS, f"time ran backwards: {self.time} -> {now}"
        if dt > 0:
            if self.on and self.session_active:
                self.on_s += dt
            if self.heat is not None:
                self.contact_s += dt
                self.dose.advance(dt, self.heat)
            else:
                self.dose.advance(dt, None)
            self.time = now
        self._check_time(now)

    def device(self, levels: Sequence[int], heat: float | None, now: float) -> None:
        """The device now runs these levels and this heat target (``None``: heater off)."""
        self.tick(now)
        self.states_checked += 1
        levels = list(levels)
        assert len(levels) == len(self.levels), f"{len(levels)} levels for {len(self.levels)} zones"
        blocked = self._blocked_reason(now)
        for zone, (old, new) in enumerate(zip(self.levels, levels, strict=True)):
            assert 0 <= new <= self.zone_max(zone), (
                f"zone {zone} at {new}, above its maximum {self.zone_max(zone)}"
            )
            if new <= old:
                continue
            assert blocked is None, f"zone {zone} rose {old} -> {new} while {blocked}"
            if old == 0:
                assert new <= 1, f"zone {zone} started at {new}: no soft start"
            else:
                gap = now - self.last_rise[zone]
                most = self.caps.intensity_steps * gap / self.limits.ramp_s
                assert new - old <= max(1.0, most) + _EPS, (
                    f"zone {zone} jumped {old} -> {new} {gap:.3f} s after its last rise; "
                    f"the ramp allows {most:.2f} levels"
                )
                assert gap >= self.caps.min_gap_s - _EPS, f"zone {zone} rose faster than the link"
            self.last_rise[zone] = now
        if heat is not None and heat != self.heat:
            self._check_heat_target(heat, blocked, now)
        if heat is not None and self.heat is None:
            self.heat_on_since = now
        was_on = self.on
        self.levels, self.heat = levels, heat
        if self.on:
            self.off_since = None
            if not self.session_active:
                self.session_active, self.session_over = True, False
                self.on_s = self.contact_s = 0.0
        elif was_on:
            self.off_since = now
        self._check_time(now)

    def reading(self, temp_c: float, now: float) -> None:
        """The device reported a temperature."""
        self.tick(now)
        self.reading_time = now
        heat = self.caps.heat
        if heat is not None:
            threshold = min(heat.limit_c, self.limits.heat_max_c + self.limits.overtemp_margin_c)
            self.fault("overtemperature", temp_c > threshold, now)

    def device_faults(self, names: Iterable[str], now: float) -> None:
        """The device's fault flags in a status report (replacing the previous ones)."""
        names = {n.lower() for n in names}
        for name, flags in (
            ("overheat", {"overheat"}),
            ("sensor_fault", {"sensor", "sensor_fault"}),
        ):
            self.fault(name, bool(names & flags), now)
        if names & {"motor", "motor_fault"}:
            self.stopped(now)

    def fault(self, name: str, active: bool | None, now: float) -> None:
        """A heat fault was raised (True), cleared (False) or reported once (None)."""
        self.tick(now)
        if active is False:
            self.faults.discard(name)
            return
        if active:
            self.faults.add(name)
        if self.heat_lock_deadline is None:
            self.heat_lock_deadline = now + self._reaction_s()
            self.heat_lock_at = now

    def event(self, kind: EventKind, active: bool | None, now: float) -> None:
        """A device or host event."""
        self.tick(now)
        if active is False:
            if kind is EventKind.OVERHEAT:
                self.fault("overheat", False, now)
            elif kind is EventKind.SENSOR_FAULT:
                self.fault("sensor_fault", False, now)
            return
        if kind is EventKind.OVERHEAT:
            self.fault("overheat", active, now)
        elif kind is EventKind.SENSOR_FAULT:
            self.fault("sensor_fault", active, now)
        elif kind in _STOP_ALWAYS or (kind in _STOP_WHEN_ON and self.on):
            self.stopped(now)

    def stopped(self, now: float) -> None:
        """An emergency stop: everything must be off soon and stay off until resumed."""
        self.tick(now)
        if self.stop_deadline is None:
            self.stop_deadline = now + self._reaction_s()
            self.stop_at = now

    def resumed(self, now: float) -> None:
        """The user started again after a stop."""
        self.tick(now)
        self.stop_deadline, self.stop_at = None, math.inf
        if not self.faults:
            self.heat_lock_deadline, self.heat_lock_at = None, math.inf

    def link(self, up: bool, now: float) -> None:
        """The link went down or came back."""
        self.tick(now)
        self.link_up = up

    def auto_off(self, seconds: int) -> None:
        """The sender applied this auto-off; below the on-time so far it means "stop now"."""
        self.auto_off_s = max(float(seconds), self.on_s)

    # ----------------------------------------------------------------- rules

    def zone_max(self, zone: int) -> int:
        """The highest level the rules allow ``zone``, recomputed from the limits."""
        steps = self.caps.intensity_steps

        def share(fraction: float) -> int:
            return max(1, min(steps, math.floor(steps * fraction + 1e-9)))

        most = min(steps, share(self.limits.max_fraction))
        if self.caps.zones[zone].gentle_only:
            most = min(most, share(self.limits.gentle_fraction))
        if self.profile.caps_intensity:
            most = min(most, share(self.limits.capped_fraction))
        if self.profile.refuses_sessions:
            most = 0
        return most

    def _reaction_s(self) -> float:
        # With the link down the device watchdog is the one that stops it.
        return self.slack_s + (0.0 if self.link_up else self.caps.watchdog_s)

    def _blocked_reason(self, now: float) -> str | None:
        # A command already in flight when a stop began may land within the slack.
        if self.profile.refuses_sessions:
            return "the profile refuses sessions"
        if self.stop_deadline is not None and now - self.stop_at >= self.slack_s:
            return "stopped"
        if self.session_over and now - self.over_at >= self.slack_s:
            return "the session is over (rest)"
        return None

    def _check_heat_target(self, heat: float, blocked: str | None, now: float) -> None:
        caps = self.caps.heat
        assert caps is not None, f"heat {heat} C on a device without a heater"
        assert blocked is None, f"heat on at {heat} C while {blocked}"
        assert not self.profile.refuses_heat, f"heat on at {heat} C: the profile refuses heat"
        locked = self.heat_lock_deadline is not None and now - self.heat_lock_at >= self.slack_s
        assert not locked, f"heat on at {heat} C after a heat fault"
        assert heat <= caps.limit_c, f"heat {heat} C above the device limit {caps.limit_c} C"
        assert heat <= self.limits.heat_max_c, f"heat {heat} C above {self.limits.heat_max_c} C"
        if heat > CONTACT_LIMIT_C:
            assert self.contact_s < CONTACT_LONG_S, (
                f"heat {heat} C after {self.contact_s:.0f} s of contact"
            )

    def _check_time(self, now: float) -> None:
        slack = self._reaction_s() + _EPS
        limit = min(self.auto_off_s, self.limits.session_max_s)
        if self.session_active and not self.session_over and self.on_s >= limit - _EPS:
            self.session_over = True
            self.over_at = now
        assert self.on_s <= limit + slack, (
            f"session on-time {self.on_s:.3f} s passed its {limit:.0f} s"
        )
        if (
            self.session_active
            and not self.on
            and self.off_since is not None
            and now - self.off_since >= self.limits.rest_s - _EPS
        ):
            self.session_active = self.session_over = False
            self.over_at = math.inf
            self.on_s = self.contact_s = 0.0
        if self.stop_deadline is not None and now > self.stop_deadline + _EPS:
            assert not self.on, f"still on {now - self.stop_deadline:.3f} s past a stop's deadline"
        if self.heat_lock_deadline is not None and now > self.heat_lock_deadline + _EPS:
            assert self.heat is None, "heat still on past a heat fault's deadline"
        if self.heat is None:
            return
        if self.heat > CONTACT_LIMIT_C:
            assert self.contact_s <= CONTACT_LONG_S + slack, (
                f"{self.heat} C held for {self.contact_s:.1f} s of contact"
            )
        if self.caps.has_temperature_sensor:
            blind = now - max(self.heat_on_since, self.reading_time)
            allowed = self.limits.temperature_timeout_s + self._reaction_s() + _EPS
            assert blind <= allowed, f"heating {blind:.2f} s without a temperature reading"
        allowed_dose = self.limits.dose_limit_fraction * (1 + 1e-6)
        assert self.dose.fraction <= allowed_dose + self._dose_slack(), (
            f"thermal dose {self.dose.fraction:.4f} above its limit {allowed_dose:.4f}"
        )

    def _dose_slack(self) -> float:
        if self.heat is None:
            return 0.0
        return dose_rate(self.heat) * self._reaction_s() / 60.0 / BURN_MINUTES
