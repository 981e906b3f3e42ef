"""The real client against the real simulator, watched from the device's side.

:class:`ProbedDevice` is the simulated massager with one addition: after every
host frame it handles, every control tick of its firmware and every stop it
makes, it hands its true outputs (commanded zone levels, heater target, pad
temperature) to a probe. Nothing else about the firmware changes.

:class:`Watch` is that probe. It feeds each sample to a
:class:`~tests.safety.invariants.SafetyMonitor` together with what the device
reported to the host (temperatures, fault flags, events), so the safety rules
are checked on what the device really did, not on what the client believes.
It adds two end-to-end rules of its own:

- *quiet*: after a stop (``device.stop()``, the button, a lost host) nothing
  may come on again until the user asks for an output;
- *single fault*: with at most one hardware fault injected, the heater pad's
  true temperature never passes the device's limit.

A broken rule is kept (the firmware must not see the test's exception) and
raised by :meth:`Watch.check`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

from massager_simulator import SimulatedDevice
from massager_simulator.link import Port
from massager_simulator.supervisor import Supervisor

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.client import Device
from massager_sdk.model import DeviceEvent, DeviceStatus, EventKind
from massager_sdk.safety import HealthProfile, SafetyLimits
from tests.safety.invariants import SafetyMonitor

#: How late the client may carry out a required action on the in-process link.
#: On the virtual clock a request's round trip takes no time; the slack covers
#: the firmware's control tick (0.25 s), at which a device-side stop lands.
REACTION_SLACK_S = 0.5

Probe = Callable[[float], None]


class _ProbedSupervisor(Supervisor):
    def stop_everything(self) -> None:
        super().stop_everything()
        device = self.device
        assert isinstance(device, ProbedDevice)
        device._sample()  # the button, a closed link, power off


class ProbedDevice(SimulatedDevice):
    """A simulated device that reports its true outputs whenever they may change."""

    probe: Probe | None = None
    supervisor_class = _ProbedSupervisor

    def _sample(self) -> None:
        probe = self.probe
        if probe is not None:
            probe(asyncio.get_running_loop().time())

    def _port_bytes(self, port: Port, data: bytes) -> None:
        super()._port_bytes(port, data)
        self._sample()  # the only way a level rises or the heater gets a target

    def _tick(self, now: float) -> None:
        super()._tick(now)
        self._sample()  # watchdog, auto-off, heat faults and the battery act here


class Watch:
    """Checks a :class:`ProbedDevice` against the safety rules while a client drives it.

    Make it on the event loop the device runs on; its clock is that loop's.
    """

    def __init__(
        self,
        sim: ProbedDevice,
        caps: DeviceCapabilities,
        limits: SafetyLimits | None = None,
        profile: HealthProfile | None = None,
        *,
        slack_s: float = REACTION_SLACK_S,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.sim = sim
        self.caps = caps
        self.limits = limits
        self.profile = profile
        self.slack_s = slack_s
        self.monitor = SafetyMonitor(caps, limits, profile, slack_s=slack_s)
        self.failure: AssertionError | None = None
        #: Why nothing may be on (``None``: outputs may be on), and from when.
        self.quiet: str | None = None
        self.quiet_from = math.inf
        #: Whether at most one hardware fault is injected (the pad-temperature rule holds).
        self.single_fault = True
        self.samples = 0
        self.hottest_c = -math.inf
        self.longest_on_s = 0.0
        n = len(caps.zones)
        self.levels = [0] * n
        self.last_rise = [-math.inf] * n
        self.ramp_interval_s = 0.0
        self.ramp_step = caps.intensity_steps
        self._unsubscribe: list[Callable[[], None]] = []
        sim.probe = self.sample

    # ------------------------------------------------------------ inputs

    def new_host(self, device: Device) -> None:
        """A new client took over: a fresh policy, so a fresh monitor; listen to it."""
        self.detach()
        self.monitor = SafetyMonitor(self.caps, self.limits, self.profile, slack_s=self.slack_s)
        # The ramp the policy paces rises by; never faster than full scale in ramp_s.
        policy = device.safety
        self.ramp_interval_s, self.ramp_step = policy.ramp_interval_s, policy.ramp_step
        rate = self.caps.intensity_steps / policy.limits.ramp_s
        assert self.ramp_step <= rate * self.ramp_interval_s + 1e-9 or self.ramp_step == 1, (
            f"the policy's ramp ({self.ramp_step} per {self.ramp_interval_s} s) is faster "
            f"than {policy.limits.ramp_s} s from off to full"
        )
        self.last_rise = [-math.inf] * len(self.levels)
        now = self.loop.time()
        self.monitor.tick(now)
        self.monitor.device(self.sim.commanded, self.sim.heat_target_c, now)
        self._unsubscribe = [device.on_status(self._status), device.on_event(self._event)]

    def detach(self) -> None:
        """Stop listening to the client."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    def sample(self, now: float) -> None:
        """The device's outputs may have changed (called by the device)."""
        levels, heat = self.sim.commanded, self.sim.heat_target_c
        self._guard(lambda: self._check_sample(levels, heat, now))

    def link(self, up: bool) -> None:
        """The test broke the link, or the client reports it back."""
        now = self.loop.time()
        self._guard(lambda: self.monitor.link(up, now))

    def stopped(self) -> None:
        """An emergency stop that holds until resumed (button, safety stop)."""
        now = self.loop.time()
        self._guard(lambda: self.monitor.stopped(now))

    def resumed(self) -> None:
        """The user resumed after a stop."""
        now = self.loop.time()
        self._guard(lambda: self.monitor.resumed(now))

    def hold_off(self, reason: str, *, slack: bool = False) -> None:
        """Nothing may be on from now (or after the reaction slack) until :meth:`may_run`.

        ``slack`` allows for a command that was on its way when the device stopped
        on its own: the client must undo it within the slack.
        """
        if self.quiet is None:
            self.quiet = reason
            self.quiet_from = self.loop.time() + (self.slack_s if slack else 0.0)

    def may_run(self) -> None:
        """The user asked for an output again."""
        self.quiet, self.quiet_from = None, math.inf

    def auto_off(self, seconds: int) -> None:
        """The client accepted this auto-off."""
        self.monitor.auto_off(seconds)

    def check(self) -> None:
        """Raise the first broken rule, if any; check the rules time alone can break."""
        self.sample(self.loop.time())
        if self.failure is not None:
            raise self.failure

    # ------------------------------------------------------------ internals

    def _guard(self, check: Callable[[], None]) -> None:
        if self.failure is not None:
            return
        try:
            check()
        except AssertionError as exc:
            now = self.loop.time()
            self.failure = AssertionError(f"at t={now:.3f} s: {exc}")

    def _check_sample(self, levels: tuple[int, ...], heat: float | None, now: float) -> None:
        self.samples += 1
        self.monitor.device(levels, heat, now)
        self.longest_on_s = max(self.longest_on_s, self.monitor.on_s)
        self._check_ramp(levels, now)
        if self.quiet is not None and now >= self.quiet_from - 1e-9:
            assert not any(levels) and heat is None, (
                f"on again after {self.quiet}: levels {levels}, heat {heat}"
            )
        temp = self.sim.temperature_c
        spec = self.caps.heat
        if temp is not None and spec is not None:
            self.hottest_c = max(self.hottest_c, temp)
            if self.single_fault:
                assert temp <= spec.limit_c, (
                    f"the pad reached {temp:.2f} C, above the device limit {spec.limit_c} C"
                )

    def _check_ramp(self, levels: tuple[int, ...], now: float) -> None:
        """Each rise: level 1 from off, else at most ``ramp_step``; one per ``ramp_interval_s``."""
        for zone, (old, new) in enumerate(zip(self.levels, levels, strict=True)):
            if new <= old:
                continue
            most = 1 if old == 0 else old + self.ramp_step
            assert new <= most, f"zone {zone} jumped {old} -> {new}; the ramp allows {most}"
            gap = now - self.last_rise[zone]
            assert gap >= self.ramp_interval_s - 1e-6, (
                f"zone {zone} rose {old} -> {new} {gap:.3f} s after its last rise; "
                f"the ramp allows one rise every {self.ramp_interval_s} s"
            )
            self.last_rise[zone] = now
        self.levels = list(levels)

    def _status(self, status: DeviceStatus) -> None:
        now = self.loop.time()

        def take() -> None:
            if status.temperature_c is not None:
                self.monitor.reading(status.temperature_c, now)
            self.monitor.device_faults(status.faults, now)

        self._guard(take)

    def _event(self, event: DeviceEvent) -> None:
        now = self.loop.time()
        kind = event.kind
        if kind is EventKind.LINK_LOST:
            # A lost link is not an emergency stop for the client: outputs come back
            # if the link does within the grace period (docs/safety.md).
            if event.active is not False:
                self.link(False)
            if event.active is None:  # the client gave the link up: the session is over
                self.hold_off("the client gave up the link", slack=True)
            return
        if kind is EventKind.LINK_RESTORED:
            self.link(True)
            return
        if kind is EventKind.SAFETY_STOP:
            return  # the host's own action, not an input
        self._guard(lambda: self.monitor.event(kind, event.active, now))
