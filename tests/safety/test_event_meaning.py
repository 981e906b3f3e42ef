"""What each device event means is said once, on EventKind, and the policy acts on exactly that."""

from __future__ import annotations

import pytest

from massager_sdk.model import DeviceEvent, EventKind
from massager_sdk.safety import SafetyPolicy
from tests.safety.devices import heat_device

ON = [1, 0, 0, 0]
OFF = [0, 0, 0, 0]


def test_the_meanings() -> None:
    stops = {k for k in EventKind if k.stops_outputs}
    assert stops == {
        EventKind.WATCHDOG_STOP,
        EventKind.AUTO_OFF,
        EventKind.BUTTON,
        EventKind.SHUTDOWN,
        EventKind.EXTERNAL_STOP,
        EventKind.LINK_STOP,
    }
    assert {k for k in EventKind if k.heat_fault} == {EventKind.OVERHEAT, EventKind.SENSOR_FAULT}
    assert {k for k in EventKind if k.latches_stop} == {EventKind.BUTTON, EventKind.MOTOR_FAULT}
    assert {k for k in EventKind if k.stops_if_on} == stops | {EventKind.LINK_LOST}
    assert {k for k in EventKind if k.ends_program} == {
        EventKind.BUTTON,
        EventKind.AUTO_OFF,
        EventKind.SHUTDOWN,
        EventKind.SAFETY_STOP,
        EventKind.EXTERNAL_STOP,
        EventKind.LINK_STOP,  # another host's stop: a program never switches back on
    }
    assert {k for k in EventKind if k.invalidates_outputs} == stops | {
        EventKind.OVERHEAT,
        EventKind.SENSOR_FAULT,
        EventKind.MOTOR_FAULT,
        EventKind.SAFETY_STOP,
    }
    assert not EventKind.LOW_BATTERY.invalidates_outputs
    assert DeviceEvent(EventKind.BUTTON, None).raised
    assert not DeviceEvent(EventKind.OVERHEAT, False).raised


@pytest.mark.parametrize("kind", list(EventKind))
@pytest.mark.parametrize("on", [True, False])
def test_policy_stops_as_the_kind_says(kind: EventKind, on: bool) -> None:
    policy = SafetyPolicy(heat_device(sensor=False))
    policy.outputs_changed(ON if on else OFF, None, now=0.0)
    policy.observe_event(DeviceEvent(kind, True), now=1.0)
    snap = policy.snapshot(1.0)
    expected = kind.latches_stop or (kind.stops_if_on and on)
    assert snap.emergency_stopped is expected
    if expected:
        assert snap.stop_reason == kind.stop_reason
    assert bool(snap.heat_faults) is kind.heat_fault
    # A cleared condition never stops anything.
    fresh = SafetyPolicy(heat_device(sensor=False))
    fresh.outputs_changed(ON, None, now=0.0)
    fresh.observe_event(DeviceEvent(kind, False), now=1.0)
    assert not fresh.snapshot(1.0).emergency_stopped
