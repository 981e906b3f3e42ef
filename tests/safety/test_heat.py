"""Heat: target limits, contact time, faults, stale readings and the thermal dose."""

from __future__ import annotations

import json

import pytest

from massager_sdk.errors import NotSupported, SafetyRefusal
from massager_sdk.model import DeviceEvent, DeviceStatus, EventKind
from massager_sdk.safety import Limit, SafetyLimits, SafetyPolicy
from tests.safety.devices import heat_device, plain_device

OFF = [0, 0, 0, 0]


def status(temp: float | None, faults: frozenset[str] = frozenset()) -> DeviceStatus:
    return DeviceStatus((0, 0, 0, 0), None, temp, None, None, False, 0, faults)


def heating(policy: SafetyPolicy, target: float, now: float) -> None:
    assert policy.check_heat(target, now) == target
    policy.outputs_changed(OFF, target, now)


def test_heat_off_is_always_allowed() -> None:
    policy = SafetyPolicy(heat_device())
    policy.emergency_stop("test", now=0.0)
    assert policy.check_heat(None, now=0.0) is None


def test_default_target_is_at_most_42_c() -> None:
    policy = SafetyPolicy(heat_device())
    assert policy.check_heat(42.0, now=0.0) == 42.0
    with pytest.raises(SafetyRefusal) as err:
        policy.check_heat(42.5, now=0.0)
    assert (err.value.limit, err.value.requested, err.value.allowed) == (Limit.HEAT_MAX, 42.5, 42.0)


def test_never_above_the_device_limit_even_with_an_override() -> None:
    limits = SafetyLimits(heat_max_c=45.0, overrides=frozenset({"heat_max_c"}))
    policy = SafetyPolicy(heat_device(), limits)  # the device's limit is 45 C
    with pytest.raises(SafetyRefusal) as err:
        policy.check_heat(45.5, now=0.0)
    assert err.value.limit == Limit.DEVICE_HEAT_LIMIT


def test_above_43_c_only_for_the_first_10_minutes_of_contact() -> None:
    limits = SafetyLimits(heat_max_c=44.0, overrides=frozenset({"heat_max_c"}))
    policy = SafetyPolicy(heat_device(sensor=False), limits)
    heating(policy, 44.0, now=0.0)
    assert policy.next_deadline(0.0) == pytest.approx(600.0)
    assert policy.required_actions(599.0) == []
    actions = policy.required_actions(600.0)
    assert [a.kind for a in actions] == ["heat_off"]
    assert "43.0 C" in actions[0].reason
    with pytest.raises(SafetyRefusal) as err:
        policy.check_heat(43.5, now=600.0)
    assert (err.value.limit, err.value.allowed) == (Limit.HEAT_CONTACT, 43.0)
    assert policy.check_heat(43.0, now=600.0) == 43.0
    policy.outputs_changed(OFF, 43.0, now=600.0)
    assert policy.snapshot(600.0).heat_max_c == 43.0


def test_no_heater_is_not_supported() -> None:
    with pytest.raises(NotSupported, match="no heater"):
        SafetyPolicy(plain_device()).check_heat(40.0, now=0.0)


@pytest.mark.parametrize("target", [0.0, -5.0, float("nan"), float("inf")])
def test_bad_heat_target_is_a_clear_error(target: float) -> None:
    with pytest.raises(ValueError, match="heat target"):
        SafetyPolicy(heat_device()).check_heat(target, now=0.0)


@pytest.mark.parametrize("fault", ["overheat", "sensor", "SENSOR_FAULT"])
def test_device_fault_in_status_turns_heat_off_and_locks_it(fault: str) -> None:
    policy = SafetyPolicy(heat_device())
    heating(policy, 40.0, now=0.0)
    policy.observe_status(status(40.0, frozenset({fault})), now=1.0)
    assert [a.kind for a in policy.required_actions(1.0)] == ["heat_off"]
    policy.outputs_changed(OFF, None, now=1.0)
    assert policy.required_actions(1.0) == []
    with pytest.raises(SafetyRefusal) as err:
        policy.check_heat(38.0, now=2.0)
    assert err.value.limit == Limit.HEAT_FAULT
    # Cleared on the device, but the lock holds until the user resumes.
    policy.observe_status(status(35.0), now=3.0)
    with pytest.raises(SafetyRefusal):
        policy.check_heat(38.0, now=3.0)
    policy.resume(now=4.0)
    assert policy.check_heat(38.0, now=4.0) == 38.0


def test_overheat_event_turns_heat_off() -> None:
    policy = SafetyPolicy(heat_device())
    heating(policy, 42.0, now=0.0)
    policy.observe_event(DeviceEvent(EventKind.OVERHEAT, True, 46.0), now=1.0)
    assert [a.kind for a in policy.required_actions(1.0)] == ["heat_off"]
    assert policy.snapshot(1.0).heat_faults == ("overheat", "overtemperature")


def test_resume_keeps_heat_locked_while_the_fault_is_active() -> None:
    policy = SafetyPolicy(heat_device())
    policy.observe_event(DeviceEvent(EventKind.SENSOR_FAULT, True), now=0.0)
    policy.outputs_changed(OFF, None, now=0.0)
    policy.resume(now=1.0)
    with pytest.raises(SafetyRefusal) as err:
        policy.check_heat(40.0, now=1.0)
    assert err.value.limit == Limit.HEAT_FAULT
    policy.observe_event(DeviceEvent(EventKind.SENSOR_FAULT, False), now=2.0)
    policy.resume(now=2.0)
    assert policy.check_heat(40.0, now=2.0) == 40.0


def test_reported_temperature_above_the_ceiling_is_an_over_temperature() -> None:
    policy = SafetyPolicy(heat_device())
    heating(policy, 42.0, now=0.0)
    policy.observe_status(status(43.4), now=1.0)  # within the controller's margin
    assert policy.required_actions(1.0) == []
    policy.observe_status(status(43.6), now=2.0)  # 42 + 1.5 passed
    actions = policy.required_actions(2.0)
    assert [a.kind for a in actions] == ["heat_off"]
    assert "overtemperature" in actions[0].reason


def test_heat_goes_off_when_readings_stop() -> None:
    policy = SafetyPolicy(heat_device(sensor=True))
    heating(policy, 40.0, now=0.0)
    policy.observe_status(status(39.0), now=2.0)
    assert policy.next_deadline(2.0) == pytest.approx(7.0)
    assert policy.required_actions(6.9) == []
    actions = policy.required_actions(7.0)
    assert [a.kind for a in actions] == ["heat_off"]
    assert "no temperature reading" in actions[0].reason
    policy.outputs_changed(OFF, None, now=7.0)
    with pytest.raises(SafetyRefusal) as err:
        policy.check_heat(40.0, now=8.0)
    assert err.value.limit == Limit.TEMPERATURE_STALE
    policy.observe_status(status(30.0), now=9.0)  # readings are back
    assert policy.check_heat(40.0, now=9.0) == 40.0


def test_no_staleness_rule_without_a_sensor() -> None:
    policy = SafetyPolicy(heat_device(sensor=False))
    heating(policy, 40.0, now=0.0)
    assert policy.required_actions(60.0) == []


def test_thermal_dose_stops_heat_and_is_visible() -> None:
    # 45 C counts 2 equivalent minutes at 44 C a minute; a 1 % limit is 3.6 of them.
    limits = SafetyLimits(
        heat_max_c=45.0, dose_limit_fraction=0.01, overrides=frozenset({"heat_max_c"})
    )
    policy = SafetyPolicy(heat_device(sensor=False), limits)
    heating(policy, 45.0, now=0.0)
    assert policy.next_deadline(0.0) == pytest.approx(108.0)  # 3.6 / 2 minutes
    snap = policy.snapshot(54.0)
    assert snap.thermal_dose_min == pytest.approx(1.8)
    assert snap.thermal_dose_fraction == pytest.approx(0.005)
    assert snap.thermal_dose_limit_fraction == 0.01
    assert [a.kind for a in policy.required_actions(108.0)] == ["heat_off"]
    policy.outputs_changed(OFF, None, now=108.0)
    with pytest.raises(SafetyRefusal) as err:
        policy.check_heat(38.0, now=108.0)
    assert err.value.limit == Limit.THERMAL_DOSE
    assert not policy.snapshot(108.0).heat_allowed
    # The dose halves every 2 hours while the heater is off; heat is allowed again below half.
    assert policy.snapshot(108.0 + 7199.0).heat_allowed is False
    snap = policy.snapshot(108.0 + 7201.0)
    assert snap.heat_allowed
    assert snap.thermal_dose_fraction == pytest.approx(0.005, rel=1e-3)


def test_dose_counts_a_reading_above_the_target() -> None:
    policy = SafetyPolicy(heat_device())
    heating(policy, 40.0, now=0.0)
    policy.observe_status(status(43.0), now=0.0)
    assert policy.snapshot(60.0).thermal_dose_min == pytest.approx(0.25)  # 43 C: 1/4 a minute


def test_snapshot_is_json() -> None:
    policy = SafetyPolicy(heat_device())
    heating(policy, 40.0, now=0.0)
    data = policy.snapshot(1.0).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["heat_target_c"] == 40.0 and data["heat_on"] is True


def test_a_one_off_fault_report_does_not_clear_a_raised_fault() -> None:
    policy = SafetyPolicy(heat_device())
    policy.observe_event(DeviceEvent(EventKind.OVERHEAT, True), now=0.0)
    policy.observe_event(DeviceEvent(EventKind.OVERHEAT, None), now=1.0)
    policy.outputs_changed(OFF, None, now=1.0)
    policy.resume(now=2.0)
    with pytest.raises(SafetyRefusal) as err:
        policy.check_heat(38.0, now=2.0)
    assert err.value.limit == Limit.HEAT_FAULT


def test_lowering_to_43_c_after_10_minutes_satisfies_the_contact_rule() -> None:
    limits = SafetyLimits(heat_max_c=44.0, overrides=frozenset({"heat_max_c"}))
    policy = SafetyPolicy(heat_device(sensor=False), limits)
    heating(policy, 44.0, now=0.0)
    assert [a.kind for a in policy.required_actions(600.0)] == ["heat_off"]
    heating(policy, 43.0, now=600.0)
    assert policy.required_actions(600.0) == []
    assert policy.snapshot(600.0).violations == 0
