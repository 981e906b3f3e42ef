"""Emergency stops from every source, and what it takes to start again."""

from __future__ import annotations

import pytest

from massager_sdk.errors import SafetyRefusal
from massager_sdk.model import DeviceEvent, DeviceStatus, EventKind
from massager_sdk.safety import Limit, SafetyPolicy
from tests.safety.devices import heat_device

OFF = [0, 0, 0, 0]
RUNNING = [4, 4, 0, 0]


def running_policy() -> SafetyPolicy:
    policy = SafetyPolicy(heat_device(sensor=False))
    policy.outputs_changed([1, 1, 0, 0], None, now=0.0)
    for now, level in ((1.0, 2), (2.0, 3), (3.0, 4)):
        policy.outputs_changed([level, level, 0, 0], None, now)
    policy.outputs_changed(RUNNING, 40.0, now=3.0)
    assert policy.snapshot(3.0).violations == 0
    return policy


def assert_stopped(policy: SafetyPolicy, now: float, reason: str) -> None:
    actions = policy.required_actions(now)
    assert [a.kind for a in actions] == ["stop_all"]
    assert reason in actions[0].reason
    assert policy.next_deadline(now) == now
    snap = policy.snapshot(now)
    assert snap.emergency_stopped and reason in (snap.stop_reason or "")
    # Carried out: nothing pending, but nothing may start either.
    policy.outputs_changed(OFF, None, now)
    assert policy.required_actions(now) == []
    with pytest.raises(SafetyRefusal) as err:
        policy.check_output(0, 1, now)
    assert err.value.limit == Limit.EMERGENCY_STOP and err.value.allowed is None
    assert "resume()" in str(err.value)
    with pytest.raises(SafetyRefusal) as err:
        policy.check_heat(38.0, now)
    assert err.value.limit == Limit.EMERGENCY_STOP
    # Starting again is explicit.
    policy.resume(now + 1)
    assert not policy.snapshot(now + 1).emergency_stopped
    assert policy.ramp_level(0, 0, 4, now + 1) == 1  # and soft again


def test_explicit_stop() -> None:
    policy = running_policy()
    policy.emergency_stop("massager stop", now=5.0)
    assert_stopped(policy, 5.0, "massager stop")


def test_device_button() -> None:
    policy = running_policy()
    policy.observe_event(DeviceEvent(EventKind.BUTTON, None), now=5.0)
    assert_stopped(policy, 5.0, "button")


def test_link_loss_while_running() -> None:
    policy = running_policy()
    policy.observe_event(DeviceEvent(EventKind.LINK_LOST, True), now=5.0)
    policy.observe_event(DeviceEvent(EventKind.LINK_RESTORED, True), now=8.0)
    assert_stopped(policy, 8.0, "link")


def test_link_loss_while_idle_stops_nothing() -> None:
    policy = SafetyPolicy(heat_device())
    policy.observe_event(DeviceEvent(EventKind.LINK_LOST, True), now=5.0)
    assert policy.required_actions(5.0) == []
    policy.check_output(0, 1, now=6.0)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (EventKind.WATCHDOG_STOP, "watchdog"),
        (EventKind.AUTO_OFF, "auto-off"),
        (EventKind.SHUTDOWN, "shut down"),
        (EventKind.MOTOR_FAULT, "motor fault"),
    ],
)
def test_device_stopping_on_its_own(kind: EventKind, reason: str) -> None:
    policy = running_policy()
    policy.observe_event(DeviceEvent(kind, True), now=5.0)
    assert_stopped(policy, 5.0, reason)


def test_motor_fault_in_a_status() -> None:
    policy = running_policy()
    status = DeviceStatus((4, 4, 0, 0), 40.0, None, None, None, False, 0, frozenset({"motor"}))
    policy.observe_status(status, now=5.0)
    assert_stopped(policy, 5.0, "motor fault")


def test_stop_when_already_off_still_sends_stop_all() -> None:
    policy = SafetyPolicy(heat_device())
    policy.emergency_stop("SIGTERM", now=0.0)
    assert [a.kind for a in policy.required_actions(0.0)] == ["stop_all"]


def test_resume_is_refused_until_the_stop_was_carried_out() -> None:
    policy = running_policy()
    policy.emergency_stop("MQTT OFF", now=5.0)
    with pytest.raises(SafetyRefusal) as err:
        policy.resume(now=6.0)
    assert err.value.limit == Limit.EMERGENCY_STOP
    assert "carry out stop_all" in str(err.value)
    policy.outputs_changed(OFF, None, now=6.0)
    policy.resume(now=6.0)


def test_emergency_stop_pauses_the_session_clock_without_renewing_it() -> None:
    policy = running_policy()
    policy.emergency_stop("button", now=600.0)
    policy.outputs_changed(OFF, None, now=600.0)
    policy.resume(now=700.0)
    snap = policy.snapshot(700.0)
    assert snap.session_active and snap.session_elapsed_s == 600.0


def test_emergency_stop_never_raises_even_with_a_bad_clock() -> None:
    policy = running_policy()
    policy.emergency_stop("SIGINT", now=float("nan"))
    assert [a.kind for a in policy.required_actions(5.0)] == ["stop_all"]


def test_refusals_after_a_stop_are_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    policy = running_policy()
    caplog.set_level("WARNING", logger="massager_sdk.safety")
    policy.emergency_stop("massager stop", now=5.0)
    assert any("emergency stop: massager stop" in r.message for r in caplog.records)
    with pytest.raises(SafetyRefusal):
        policy.check_output(0, 9, now=5.0)
    snap = policy.snapshot(5.0)
    assert snap.refusals == 1
    assert snap.last_refusal is not None and "emergency_stop" in snap.last_refusal
    assert any(r.message.startswith("refused: ") for r in caplog.records)
