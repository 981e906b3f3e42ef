"""Intensity: device steps, per-zone maxima, soft start and the ramp limit."""

from __future__ import annotations

import itertools

import pytest

from massager_sdk.errors import SafetyRefusal
from massager_sdk.safety import Contraindication, HealthProfile, Limit, SafetyLimits, SafetyPolicy
from tests.safety.devices import heat_device, plain_device

THROAT = 2  # the FRONT_NECK zone of heat_device()


def test_level_above_the_device_steps_is_refused() -> None:
    policy = SafetyPolicy(heat_device(steps=10))
    with pytest.raises(SafetyRefusal) as err:
        policy.check_output(0, 11, now=0.0)
    assert err.value.limit == Limit.DEVICE_STEPS
    assert (err.value.requested, err.value.allowed) == (11, 10)
    policy.check_output(0, 10, now=0.0)  # the top step itself is fine


def test_front_of_the_neck_takes_gentle_levels_only() -> None:
    policy = SafetyPolicy(heat_device(steps=10))
    assert policy.zone_max(THROAT) == 3  # 30 % of 10 steps
    policy.check_output(THROAT, 3, now=0.0)
    with pytest.raises(SafetyRefusal) as err:
        policy.check_output(THROAT, 4, now=0.0)
    assert err.value.limit == Limit.FRONT_NECK_GENTLE
    assert err.value.allowed == 3
    assert "front of the neck" in str(err.value)


def test_gentle_zone_keeps_at_least_the_lowest_step() -> None:
    assert SafetyPolicy(heat_device(steps=3)).zone_max(THROAT) == 1


def test_max_fraction_caps_every_zone() -> None:
    policy = SafetyPolicy(plain_device(steps=10), SafetyLimits(max_fraction=0.6))
    assert [policy.zone_max(z) for z in (0, 1)] == [6, 6]
    with pytest.raises(SafetyRefusal) as err:
        policy.check_output(1, 7, now=0.0)
    assert (err.value.limit, err.value.allowed) == (Limit.INTENSITY_MAX, 6)


def test_off_is_always_allowed_even_when_stopped() -> None:
    policy = SafetyPolicy(plain_device())
    policy.emergency_stop("test", now=0.0)
    policy.check_output(0, 0, now=0.0)


@pytest.mark.parametrize("zone", [-1, 4, "left"])
def test_unknown_zone_is_a_clear_error(zone: object) -> None:
    policy = SafetyPolicy(heat_device())
    with pytest.raises(ValueError, match=r"zones are 0='left neck'"):
        policy.check_output(zone, 1, now=0.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("level", [-1, 2.5, True])
def test_bad_level_is_a_clear_error(level: object) -> None:
    with pytest.raises(ValueError, match="whole number >= 0"):
        SafetyPolicy(plain_device()).check_output(0, level, now=0.0)  # type: ignore[arg-type]


def ramp_to(policy: SafetyPolicy, zone: int, target: int, start: float) -> list[tuple[float, int]]:
    """Step a ramp as a client does, sending each level; returns (time, level) sent."""
    levels = [0] * len(policy.caps.zones)
    sent: list[tuple[float, int]] = []
    now = start
    while levels[zone] != target:
        level = policy.ramp_level(zone, levels[zone], target, now)
        if level != levels[zone]:
            levels[zone] = level
            policy.outputs_changed(levels, None, now)
            sent.append((now, level))
        now += policy.ramp_interval_s / 4  # wake more often than needed
    return sent


def test_soft_start_then_ramp_limit() -> None:
    policy = SafetyPolicy(plain_device(steps=20))
    # 20 steps in at least ramp_s = 3 s, stepping every 0.5 s: at most 3 levels a step.
    assert (policy.ramp_interval_s, policy.ramp_step) == (0.5, 3)
    sent = ramp_to(policy, 0, 20, start=0.0)
    assert sent[0] == (0.0, 1)  # soft start: the lowest level first
    levels = [level for _, level in sent]
    assert levels == [1, 4, 7, 10, 13, 16, 19, 20]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.5 - 1e-9
    # The whole climb takes at least ramp_s.
    assert sent[-1][0] - sent[0][0] >= 3.0


def test_ramp_honours_ramp_s_on_coarse_devices() -> None:
    policy = SafetyPolicy(plain_device(steps=3))
    # One step at a time, but slow enough that 0 -> 3 still takes ramp_s.
    assert (policy.ramp_interval_s, policy.ramp_step) == (1.0, 1)
    sent = ramp_to(policy, 0, 3, start=0.0)
    assert [level for _, level in sent] == [1, 2, 3]
    assert sent[-1][0] - sent[0][0] >= 2.0


def test_ramp_is_never_faster_than_the_link() -> None:
    policy = SafetyPolicy(heat_device(min_gap_s=0.8))
    assert policy.ramp_interval_s == 0.8


def test_decreases_are_immediate() -> None:
    policy = SafetyPolicy(plain_device(steps=20))
    ramp_to(policy, 0, 20, start=0.0)
    assert policy.ramp_level(0, 20, 2, now=10.0) == 2
    assert policy.ramp_level(0, 20, 0, now=10.0) == 0


def test_ramp_waits_for_its_interval() -> None:
    policy = SafetyPolicy(plain_device(steps=20))
    assert policy.ramp_level(0, 0, 10, now=0.0) == 1
    policy.outputs_changed([1, 0], None, now=0.0)
    assert policy.ramp_level(0, 1, 10, now=0.2) == 1  # too soon: hold
    assert policy.ramp_level(0, 1, 10, now=0.5) == 4


def test_ramp_starts_from_what_the_device_was_told() -> None:
    policy = SafetyPolicy(plain_device(steps=20))
    # The caller claims the zone is at 15, but the device was never told so.
    assert policy.ramp_level(0, 15, 20, now=0.0) == 1


def test_ramp_refuses_a_target_that_is_not_allowed() -> None:
    policy = SafetyPolicy(heat_device(steps=10))
    with pytest.raises(SafetyRefusal) as err:
        policy.ramp_level(THROAT, 0, 8, now=0.0)
    assert err.value.limit == Limit.FRONT_NECK_GENTLE


def test_a_jump_the_ramp_does_not_allow_is_a_violation_that_stops_everything() -> None:
    policy = SafetyPolicy(plain_device(steps=20))
    policy.outputs_changed([12, 0], None, now=0.0)  # a sender that skipped the ramp
    snap = policy.snapshot(0.0)
    assert snap.violations == 1
    assert snap.emergency_stopped
    assert [a.kind for a in policy.required_actions(0.0)] == ["stop_all"]
    assert "jumped 0 -> 12" in (snap.stop_reason or "")
    with pytest.raises(SafetyRefusal) as err:
        policy.check_output(0, 1, now=0.1)
    assert err.value.limit == Limit.EMERGENCY_STOP


def test_rising_twice_within_an_interval_is_a_violation() -> None:
    policy = SafetyPolicy(plain_device(steps=20))
    policy.outputs_changed([1, 0], None, now=0.0)
    policy.outputs_changed([2, 0], None, now=0.1)
    assert policy.snapshot(0.1).violations == 1


def test_outputs_changed_needs_one_level_per_zone() -> None:
    with pytest.raises(ValueError, match="needs 2 levels"):
        SafetyPolicy(plain_device()).outputs_changed([1], None, now=0.0)


def test_keepalive_is_a_third_of_the_device_watchdog() -> None:
    assert SafetyPolicy(heat_device()).keepalive_interval_s == 1.0  # watchdog 3 s


def test_a_profile_that_refuses_sessions_allows_no_level() -> None:
    profile = HealthProfile(frozenset({Contraindication.FEVER}))
    assert SafetyPolicy(heat_device(), health_profile=profile).zone_max(0) == 0
