"""A minimal sender around the policy alone, doing what a client must do with it.

It asks before it sends, ramps, reports what it sent, carries out required actions
at the policy's deadlines and keeps a tiny model of the device (with its watchdog)
so that :class:`~tests.safety.invariants.SafetyMonitor` can watch the device.
No link, no asyncio: time is a number that :meth:`HostLoop.advance` moves.
"""

from __future__ import annotations

import math

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.errors import SafetyRefusal
from massager_sdk.model import DeviceEvent, DeviceStatus, EventKind
from massager_sdk.safety import HealthProfile, SafetyLimits, SafetyPolicy
from tests.safety.invariants import SafetyMonitor

#: How often the device reports its temperature while heating.
STATUS_PERIOD_S = 1.0
#: Events after which the device has stopped its outputs on its own.
_DEVICE_STOPS = {EventKind.WATCHDOG_STOP, EventKind.AUTO_OFF, EventKind.SHUTDOWN}


class LinkDown(Exception):
    """A request while the link is down."""


class HostLoop:
    """Drive a :class:`SafetyPolicy` the way a client does, watched by a :class:`SafetyMonitor`."""

    def __init__(
        self,
        caps: DeviceCapabilities,
        limits: SafetyLimits | None = None,
        profile: HealthProfile | None = None,
    ) -> None:
        self.caps = caps
        self.policy = SafetyPolicy(caps, limits, profile)
        self.monitor = SafetyMonitor(caps, limits, profile)
        n = len(caps.zones)
        self.now = 0.0
        self.targets = [0] * n
        self.sent = [0] * n
        self.heat: float | None = None
        self.link_up = True
        self.lost_at = 0.0
        self.device_on = False  # whether the device model still runs what was sent
        self.temperature = 25.0
        self.sensor_silent = False
        self.next_status = 0.0
        self.next_ramp = math.inf
        self.monitor.tick(0.0)

    # ---------------------------------------------------------------- requests

    def set_output(self, zone: int, level: int) -> None:
        """Ask for a level; it ramps from the next service on."""
        self._require_link()
        self.policy.check_output(zone, level, self.now)
        self.targets[zone] = level
        self.service()

    def set_heat(self, target: float | None) -> None:
        """Ask for a heat target (``None``: off); it is sent at once."""
        self._require_link()
        applied = self.policy.check_heat(target, self.now)
        self._send(self.sent, applied)

    def set_auto_off(self, seconds: int) -> int:
        """Ask for an auto-off; returns what was applied."""
        applied = self.policy.check_auto_off(seconds, self.now)
        self.monitor.auto_off(applied)
        self.service()
        return applied

    def stop(self, reason: str = "stop command") -> None:
        """An emergency stop from the user."""
        self.policy.emergency_stop(reason, self.now)
        self.monitor.stopped(self.now)
        self.targets = [0] * len(self.targets)
        self.service()

    def resume(self) -> None:
        """Start again after a stop (the policy may refuse)."""
        self.policy.resume(self.now)
        self.monitor.resumed(self.now)

    # ------------------------------------------------------- the device's side

    def status(self, temperature: float | None, faults: frozenset[str] = frozenset()) -> None:
        """The device reports a status (only arrives while the link is up)."""
        if not self.link_up:
            return
        if temperature is not None:
            self.temperature = temperature
        status = DeviceStatus(
            intensities=tuple(self.sent),
            heat_target_c=self.heat,
            temperature_c=temperature,
            battery_pct=None,
            battery_mv=None,
            charging=False,
            auto_off_s=0,
            faults=faults,
            time=self.now,
        )
        self.policy.observe_status(status, self.now)
        if temperature is not None:
            self.monitor.reading(temperature, self.now)
        self.monitor.device_faults(faults, self.now)
        self.service()

    def event(self, kind: EventKind, active: bool | None = None) -> None:
        """The device (or the host, for link events) reports an event."""
        if kind in _DEVICE_STOPS and active is not False and self.device_on:
            self._device_off()
        self.monitor.event(kind, active, self.now)
        self.policy.observe_event(DeviceEvent(kind, active, time=self.now), self.now)
        self.service()

    def drop_link(self) -> None:
        """The link goes down: nothing is sent until it is back."""
        if not self.link_up:
            return
        self.link_up = False
        self.lost_at = self.now
        self.monitor.link(False, self.now)
        self.event(EventKind.LINK_LOST)

    def restore_link(self) -> None:
        """The link is back."""
        if self.link_up:
            return
        self.link_up = True
        self.monitor.link(True, self.now)
        self.event(EventKind.LINK_RESTORED)

    # --------------------------------------------------------------- the loop

    def advance(self, seconds: float) -> None:
        """Let time pass, waking for every deadline, ramp step, status and watchdog."""
        end = self.now + seconds
        for _ in range(100_000):
            self.service()
            wake = [end]
            due = self.policy.next_deadline(self.now)
            if due is not None and (due > self.now or self.link_up):
                wake.append(max(due, self.now))
            if self.link_up:
                wake.append(self.next_ramp)
                if self.heat is not None and not self.sensor_silent:
                    wake.append(self.next_status)
            elif self.device_on:
                wake.append(self.lost_at + self.caps.watchdog_s)
            step_to = min(wake)
            if step_to <= self.now and due is not None and due <= self.now and self.link_up:
                raise AssertionError("the policy keeps asking for an action that was carried out")
            self._move_to(max(step_to, self.now))
            if self.now >= end:
                self.service()
                return
        raise AssertionError(f"advance({seconds}) did not finish: the loop keeps waking")

    def service(self) -> None:
        """Carry out required actions, then step ramps: what a client does on every wake."""
        if not self.link_up:
            return
        for action in self.policy.required_actions(self.now):
            if action.kind == "stop_all":
                self.targets = [0] * len(self.targets)
                self._send([0] * len(self.sent), None)
            else:
                self._send(self.sent, None)
        levels = list(self.sent)
        for zone, target in enumerate(self.targets):
            if target == levels[zone]:
                continue
            try:
                levels[zone] = self.policy.ramp_level(zone, levels[zone], target, self.now)
            except SafetyRefusal:
                self.targets[zone] = min(target, levels[zone])  # abandon the rise
        if levels != self.sent:
            self._send(levels, self.heat)
        ramping = any(t > s for t, s in zip(self.targets, self.sent, strict=True))
        if not ramping:
            self.next_ramp = math.inf
        elif self.next_ramp <= self.now or self.next_ramp == math.inf:
            self.next_ramp = self.now + self.policy.ramp_interval_s

    def _move_to(self, t: float) -> None:
        if not self.link_up and self.device_on and t >= self.lost_at + self.caps.watchdog_s:
            t = max(self.now, self.lost_at + self.caps.watchdog_s)
            self.now = t
            self._device_off()
            return
        self.now = t
        self.monitor.tick(t)
        if self.link_up and self.heat is not None and t >= self.next_status:
            self.next_status = t + STATUS_PERIOD_S
            if not self.sensor_silent:
                self.status(self.temperature)

    def _device_off(self) -> None:
        self.device_on = False
        self.monitor.device([0] * len(self.sent), None, self.now)

    def _send(self, levels: list[int], heat: float | None) -> None:
        rises = any(new > old for new, old in zip(levels, self.sent, strict=True))
        self.sent, self.heat = list(levels), heat
        self.policy.outputs_changed(self.sent, heat, self.now)
        self.device_on = True
        self.monitor.device(self.sent, heat, self.now)
        if heat is not None and self.next_status <= self.now:
            self.next_status = self.now + STATUS_PERIOD_S
        if rises:
            self.next_ramp = self.now + self.policy.ramp_interval_s

    def _require_link(self) -> None:
        if not self.link_up:
            raise LinkDown("the link is down")
