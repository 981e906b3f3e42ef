"""Session time: auto-off, the hard maximum, pauses and the rest period."""

from __future__ import annotations

import dataclasses

import pytest

from massager_sdk.errors import SafetyRefusal
from massager_sdk.safety import Limit, SafetyLimits, SafetyPolicy
from tests.safety.devices import heat_device, plain_device


def on(policy: SafetyPolicy, now: float, level: int = 1) -> None:
    policy.outputs_changed([level] + [0] * (len(policy.caps.zones) - 1), None, now)


def off(policy: SafetyPolicy, now: float) -> None:
    policy.outputs_changed([0] * len(policy.caps.zones), None, now)


def test_auto_off_after_15_minutes_of_on_time() -> None:
    policy = SafetyPolicy(plain_device())
    on(policy, 100.0)
    assert policy.next_deadline(100.0) == pytest.approx(100.0 + 900)
    assert policy.required_actions(999.0) == []
    actions = policy.required_actions(1000.0)
    assert [a.kind for a in actions] == ["stop_all"]
    assert "15 min" in actions[0].reason
    assert policy.next_deadline(1000.0) == 1000.0  # act now
    with pytest.raises(SafetyRefusal) as err:
        policy.check_output(0, 1, now=1000.0)
    assert err.value.limit == Limit.SESSION_MAX


def test_stop_all_is_required_until_the_outputs_are_reported_off() -> None:
    policy = SafetyPolicy(plain_device())
    on(policy, 0.0)
    assert policy.required_actions(900.0)
    assert policy.required_actions(901.0)  # still: nothing was reported
    off(policy, 901.0)
    assert policy.required_actions(901.0) == []
    assert policy.next_deadline(901.0) is None


def test_heat_alone_starts_the_session_clock() -> None:
    policy = SafetyPolicy(heat_device(sensor=False))
    policy.outputs_changed([0, 0, 0, 0], 40.0, now=0.0)
    snap = policy.snapshot(60.0)
    assert snap.session_active and snap.session_elapsed_s == 60.0


def test_rest_period_after_a_session() -> None:
    policy = SafetyPolicy(plain_device())
    on(policy, 0.0)
    off(policy, 900.0)  # the client carried out the auto-off
    snap = policy.snapshot(900.0)
    assert snap.rest_remaining_s == 1800.0
    with pytest.raises(SafetyRefusal) as err:
        policy.check_output(0, 1, now=1500.0)
    assert err.value.limit == Limit.REST
    assert (err.value.requested, err.value.allowed) == (1, None)
    assert "1200 s left" in str(err.value)
    assert policy.snapshot(2699.0).rest_remaining_s == pytest.approx(1.0)
    policy.check_output(0, 1, now=2700.0)  # rested: a new session
    snap = policy.snapshot(2700.0)
    assert not snap.session_active and snap.session_elapsed_s == 0.0
    on(policy, 2700.0)
    assert policy.snapshot(2710.0).session_remaining_s == 890.0


def test_a_pause_stops_the_clock_but_does_not_renew_the_budget() -> None:
    policy = SafetyPolicy(plain_device())
    on(policy, 0.0)
    off(policy, 600.0)  # 10 minutes on
    snap = policy.snapshot(1000.0)  # paused for 400 s
    assert snap.session_active and snap.session_elapsed_s == 600.0
    assert snap.rest_remaining_s == 0.0  # a pause refuses nothing
    on(policy, 1000.0)
    assert policy.next_deadline(1000.0) == pytest.approx(1300.0)  # 5 minutes left


def test_a_pause_as_long_as_the_rest_ends_the_session() -> None:
    policy = SafetyPolicy(plain_device())
    on(policy, 0.0)
    off(policy, 600.0)
    assert not policy.snapshot(600.0 + 1800).session_active
    on(policy, 2400.0)
    assert policy.next_deadline(2400.0) == pytest.approx(2400.0 + 900)


def test_auto_off_can_be_raised_to_the_hard_maximum_and_no_further() -> None:
    policy = SafetyPolicy(plain_device())
    assert policy.check_auto_off(1200, now=0.0) == 1200
    with pytest.raises(SafetyRefusal) as err:
        policy.check_auto_off(1201, now=0.0)
    assert (err.value.limit, err.value.requested, err.value.allowed) == (
        Limit.SESSION_MAX,
        1201,
        1200,
    )
    on(policy, 0.0)
    assert policy.required_actions(1199.0) == []
    assert [a.kind for a in policy.required_actions(1200.0)] == ["stop_all"]


def test_auto_off_zero_means_the_policy_default() -> None:
    policy = SafetyPolicy(plain_device(), SafetyLimits(auto_off_s=600))
    assert policy.check_auto_off(0, now=0.0) == 600


def test_auto_off_above_the_device_maximum_is_refused() -> None:
    caps = dataclasses.replace(plain_device(), auto_off_max_s=600)
    policy = SafetyPolicy(caps)
    with pytest.raises(SafetyRefusal) as err:
        policy.check_auto_off(700, now=0.0)
    assert (err.value.limit, err.value.allowed) == (Limit.DEVICE_AUTO_OFF_MAX, 600)
    assert policy.check_auto_off(0, now=0.0) == 600  # the default, within the device's range


def test_lowering_the_auto_off_below_the_elapsed_time_stops_now() -> None:
    policy = SafetyPolicy(plain_device())
    on(policy, 0.0)
    policy.check_auto_off(300, now=400.0)
    assert [a.kind for a in policy.required_actions(400.0)] == ["stop_all"]


@pytest.mark.parametrize("seconds", [-1, 1.5, True])
def test_bad_auto_off_is_a_clear_error(seconds: object) -> None:
    with pytest.raises(ValueError, match="whole number of seconds"):
        SafetyPolicy(plain_device()).check_auto_off(seconds, now=0.0)  # type: ignore[arg-type]


def test_device_auto_off_is_the_time_left() -> None:
    policy = SafetyPolicy(plain_device())
    assert policy.device_auto_off_s(0.0) == 900
    on(policy, 0.0)
    assert policy.device_auto_off_s(100.5) == 800  # 799.5 s left, rounded up


def test_session_max_limit_can_be_lowered() -> None:
    policy = SafetyPolicy(plain_device(), SafetyLimits(auto_off_s=300, session_max_s=300))
    on(policy, 0.0)
    assert policy.next_deadline(0.0) == 300.0
    with pytest.raises(SafetyRefusal):
        policy.check_auto_off(301, now=0.0)


def test_a_rise_in_flight_when_the_session_ran_out_is_undone_not_a_violation() -> None:
    policy = SafetyPolicy(plain_device(steps=5))
    on(policy, 0.0)
    assert policy.ramp_level(0, 1, 2, now=899.99) == 2  # allowed a moment before the end
    policy.outputs_changed([2, 0], None, now=900.01)  # acknowledged just after it
    snap = policy.snapshot(900.01)
    assert snap.violations == 0 and not snap.emergency_stopped
    assert [a.kind for a in policy.required_actions(900.01)] == ["stop_all"]


def test_a_rise_long_after_the_session_ran_out_is_a_violation() -> None:
    policy = SafetyPolicy(plain_device(steps=5))
    on(policy, 0.0)
    off(policy, 900.0)
    policy.outputs_changed([1, 0], None, now=1000.0)
    snap = policy.snapshot(1000.0)
    assert snap.violations == 1 and snap.emergency_stopped
    assert [a.kind for a in policy.required_actions(1000.0)] == ["stop_all"]
