"""Stateful property test: arbitrary use of the policy never breaks a safety invariant.

A host loop (``host.py``) drives the policy as a client would: requests that may be
refused, time passing, temperatures and faults, device events, stops, resumes and
link drops. :class:`~tests.safety.invariants.SafetyMonitor` watches the device it
models and fails on the first breach: heat above its limits, a session past its
maximum, a jump beyond the ramp, anything left on after a stop.
"""

from __future__ import annotations

import json
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.errors import NotSupported, SafetyRefusal
from massager_sdk.model import EventKind
from massager_sdk.safety import Contraindication, HealthProfile, Limit, SafetyLimits
from tests.safety.devices import heat_device, plain_device
from tests.safety.host import HostLoop, LinkDown

T = TypeVar("T")
Config = tuple[DeviceCapabilities, SafetyLimits | None, HealthProfile | None]

CONFIGS: dict[str, Config] = {
    "defaults": (heat_device(), None, None),
    "no sensor": (heat_device(sensor=False, steps=20), None, None),
    "overrides": (
        heat_device(),
        SafetyLimits(
            heat_max_c=45.0,
            dose_limit_fraction=0.01,
            rest_s=300,
            overrides=frozenset({"heat_max_c", "rest_s"}),
        ),
        None,
    ),
    "hot, no sensor": (
        heat_device(sensor=False),
        SafetyLimits(
            heat_max_c=44.5, dose_limit_fraction=0.01, overrides=frozenset({"heat_max_c"})
        ),
        None,
    ),
    "short sessions": (plain_device(), SafetyLimits(auto_off_s=120, session_max_s=180), None),
    "capped": (heat_device(), None, HealthProfile(frozenset({Contraindication.SEVERE_OVERWORK}))),
    "no heat": (heat_device(), None, HealthProfile(frozenset({Contraindication.PREGNANCY}))),
    "no sessions": (heat_device(), None, HealthProfile(frozenset({Contraindication.FEVER}))),
}

LIMIT_NAMES = {limit.value for limit in Limit}
#: Disruptions, drawn by one rule so that the machine also spends time running.
DISRUPTIONS = [
    "stop",
    "drop_link",
    EventKind.BUTTON,
    EventKind.OVERHEAT,
    EventKind.SENSOR_FAULT,
    EventKind.WATCHDOG_STOP,
    EventKind.AUTO_OFF,
    EventKind.SHUTDOWN,
    EventKind.MOTOR_FAULT,
    EventKind.LOW_BATTERY,
]


def mostly(
    usual: st.SearchStrategy[T], rare: st.SearchStrategy[T], one_in: int = 10
) -> st.SearchStrategy[T]:
    """``rare`` about once in ``one_in`` draws, ``usual`` otherwise."""
    return st.integers(1, one_in).flatmap(lambda i: rare if i == 1 else usual)


TEMPERATURES = mostly(st.floats(25.0, 43.4), st.floats(43.4, 50.0), one_in=20)
FAULTS = mostly(
    st.just(frozenset[str]()),
    st.sampled_from(["overheat", "sensor", "motor", "low_battery"]).map(lambda f: frozenset({f})),
    one_in=20,
)
HEAT_TARGETS = mostly(
    st.sampled_from([38.0, 40.0, 42.0, 43.0, 44.0, 44.5, 45.0])
    | st.floats(30.0, 47.0).map(lambda t: round(t, 1)),
    st.none(),
)


class PolicyMachine(RuleBasedStateMachine):
    """Random use of one policy, watched by the invariant monitor."""

    host: HostLoop

    @initialize(name=st.sampled_from(sorted(CONFIGS)))
    def setup(self, name: str) -> None:
        caps, limits, profile = CONFIGS[name]
        self.host = HostLoop(caps, limits, profile)

    def _refused(self, err: SafetyRefusal) -> None:
        assert err.limit in LIMIT_NAMES, f"refusal names an unknown limit: {err.limit}"

    @rule(zone=st.integers(0, 7), level=st.integers(0, 22))
    def set_output(self, zone: int, level: int) -> None:
        try:
            self.host.set_output(zone % len(self.host.caps.zones), level)
        except SafetyRefusal as err:
            self._refused(err)
        except LinkDown:
            pass

    @rule(zone=st.integers(0, 7), level=st.integers(1, 12))
    def start_again(self, zone: int, level: int) -> None:
        """The user comes back: the link is up again, resume, ask for a level."""
        self.host.restore_link()
        try:
            self.host.resume()
        except SafetyRefusal as err:
            self._refused(err)
        self.set_output(zone, level)

    @rule(celsius=HEAT_TARGETS)
    def set_heat(self, celsius: float | None) -> None:
        try:
            self.host.set_heat(celsius)
        except SafetyRefusal as err:
            self._refused(err)
        except (LinkDown, NotSupported):
            pass

    @rule(seconds=st.sampled_from([0, 60, 300, 900, 1200, 1500]))
    def set_auto_off(self, seconds: int) -> None:
        try:
            self.host.set_auto_off(seconds)
        except SafetyRefusal as err:
            self._refused(err)

    @rule(seconds=st.floats(0.0, 6.0) | st.sampled_from([30.0, 120.0, 600.0, 900.0, 1800.0]))
    def advance(self, seconds: float) -> None:
        self.host.advance(seconds)

    @rule(temperature=TEMPERATURES, faults=FAULTS)
    def status(self, temperature: float, faults: frozenset[str]) -> None:
        self.host.status(temperature, faults)

    @rule(silent=mostly(st.just(False), st.just(True)))
    def sensor(self, silent: bool) -> None:
        self.host.sensor_silent = silent

    @rule(what=st.sampled_from(DISRUPTIONS), active=st.sampled_from([True, False, None]))
    def disrupt(self, what: str | EventKind, active: bool | None) -> None:
        if what == "stop":
            self.host.stop()
        elif what == "drop_link":
            self.host.drop_link()
        else:
            assert isinstance(what, EventKind)
            self.host.event(what, active)

    @rule()
    def resume(self) -> None:
        try:
            self.host.resume()
        except SafetyRefusal as err:
            self._refused(err)

    @rule()
    def restore_link(self) -> None:
        self.host.restore_link()

    @invariant()
    def actions_are_carried_out_and_the_snapshot_is_json(self) -> None:
        host = self.host
        snap = host.policy.snapshot(host.now)
        assert json.loads(json.dumps(snap.to_dict())) == snap.to_dict()
        assert snap.violations == 0, f"the host sent something outside the policy: {snap}"
        if host.link_up:
            assert host.policy.required_actions(host.now) == []
            if snap.emergency_stopped:
                assert not any(host.sent) and host.heat is None
        # The policy counts what it told the device, so never less than the device ran.
        assert snap.session_elapsed_s >= host.monitor.on_s - 1e-6


PolicyMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPolicyMachine = PolicyMachine.TestCase
