"""A control request is checked whole: every part passes, or nothing is to be sent."""

from __future__ import annotations

import pytest

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.control import (
    HEAT_OFF,
    ControlError,
    ControlRequest,
    Outputs,
    Shape,
    parse_pattern,
    plan_outputs,
)
from massager_sdk.errors import SafetyRefusal
from massager_sdk.model import Pattern, PatternStep, Waveform
from massager_sdk.safety import SafetyLimits, SafetyPolicy
from tests.safety.devices import heat_device, plain_device

OFF = Outputs((0, 0, 0, 0), None)


def policy() -> SafetyPolicy:
    return SafetyPolicy(heat_device(), SafetyLimits(heat_max_c=40.0))


def test_zones_and_heat_together_become_one_change() -> None:
    caps = heat_device()
    request = ControlRequest(zones=((0, 4), (3, 2)), heat=38.0)
    change = plan_outputs(request, OFF, caps, policy(), 0.0)
    assert change.outputs == Outputs((4, 0, 0, 2), 38.0)
    assert dict(change.groups) == {4: (0,), 2: (3,)}
    assert change.heat_changes


def test_a_refused_zone_refuses_the_whole_request() -> None:
    caps = heat_device()
    rules = policy()
    limit = rules.zone_max(2)  # the front of the neck is capped
    assert limit < caps.intensity_steps
    request = ControlRequest(zones=((0, 3), (2, limit + 1)), heat=38.0)
    with pytest.raises(SafetyRefusal):
        plan_outputs(request, OFF, caps, rules, 0.0)


def test_a_refused_heat_refuses_the_levels_with_it() -> None:
    caps = heat_device()
    with pytest.raises(SafetyRefusal):
        plan_outputs(ControlRequest(intensity=2, heat=42.0), OFF, caps, policy(), 0.0)


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (ControlRequest(intensity=11), "intensity"),
        (ControlRequest(zones=((4, 1),)), "zones"),
        (ControlRequest(zones=((1, -1),)), "zones.1"),
        (ControlRequest(heat=46.0), "heat"),
    ],
)
def test_what_the_device_does_not_have_is_refused(request_: ControlRequest, field: str) -> None:
    with pytest.raises(ControlError) as refused:
        plan_outputs(request_, OFF, heat_device(), policy(), 0.0)
    assert refused.value.field == field
    assert refused.value.accepted


def test_on_alone_comes_back_at_the_last_level() -> None:
    caps = heat_device()
    change = plan_outputs(ControlRequest(on=True), OFF, caps, policy(), 0.0, last_on_level=2)
    assert change.outputs.levels == (2, 2, 2, 2)


def test_a_zone_keeps_the_others_as_they_are() -> None:
    current = Outputs((3, 3, 1, 3), 38.0)
    change = plan_outputs(ControlRequest(zones=((1, 0),)), current, heat_device(), policy(), 0.0)
    assert change.outputs == Outputs((3, 0, 1, 3), 38.0)
    assert change.groups == ((0, (1,)),)
    assert not change.heat_changes


def test_heat_off_is_never_refused() -> None:
    change = plan_outputs(
        ControlRequest(heat=HEAT_OFF), Outputs((0, 0, 0, 0), 40.0), heat_device(), policy(), 0.0
    )
    assert change.outputs.heat_target_c is None and change.heat_changes


def test_what_a_request_does() -> None:
    assert ControlRequest(program="classic").starts_program
    assert ControlRequest(program="none").ends_program
    assert not ControlRequest(program="none").starts_program
    assert ControlRequest(zones=((0, 1),)).sets_outputs
    assert not ControlRequest(on=True).sets_outputs


TAP = Pattern((PatternStep(1.0, 0.2), PatternStep(0.0, 0.3)))


def test_a_pattern_goes_with_the_levels_it_shapes_and_the_rest_holds_steady() -> None:
    shape = Shape(pattern=TAP, zones=(0, 1))
    request = ControlRequest(zones=((0, 4), (1, 4), (3, 2)), heat=38.0, shape=shape)
    change = plan_outputs(request, OFF, heat_device(), policy(), 0.0)
    assert change.outputs == Outputs((4, 4, 0, 2), 38.0)
    assert change.shape == shape and dict(change.shaped) == {4: (0, 1)}
    assert dict(change.groups) == {2: (3,)}


@pytest.mark.parametrize(
    ("request_", "caps", "field", "said"),
    [
        (
            ControlRequest(intensity=3, shape=Shape(pattern=TAP)),
            plain_device(),
            "pattern",
            "cannot",
        ),
        (
            ControlRequest(intensity=3, shape=Shape(pattern=Pattern((PatternStep(1, 0.1),) * 99))),
            heat_device(),
            "pattern",
            "too many",
        ),
        (ControlRequest(intensity=3, shape=Shape(Waveform.PULSE)), heat_device(), "period", "> 0"),
        (
            ControlRequest(intensity=3, shape=Shape(Waveform.WAVE, 2.0, TAP)),
            heat_device(),
            "pattern",
            "not both",
        ),
        (ControlRequest(heat=38.0, shape=Shape(pattern=TAP)), heat_device(), "pattern", "none"),
        (
            ControlRequest(zones=((0, 3),), shape=Shape(pattern=TAP, zones=(0, 2))),
            heat_device(),
            "pattern",
            "zone 2 get",
        ),
    ],
)
def test_a_shape_the_device_or_the_request_cannot_take_refuses_the_whole_request(
    request_: ControlRequest, caps: DeviceCapabilities, field: str, said: str
) -> None:
    with pytest.raises(ControlError, match=said) as refused:
        plan_outputs(request_, OFF, caps, policy(), 0.0)
    assert refused.value.field == field
    assert refused.value.accepted


def test_a_refused_level_refuses_the_pattern_with_it() -> None:
    rules = policy()
    limit = rules.zone_max(2)
    request = ControlRequest(zones=((2, limit + 1),), shape=Shape(pattern=TAP))
    with pytest.raises(SafetyRefusal):
        plan_outputs(request, OFF, heat_device(), rules, 0.0)


@pytest.mark.parametrize(
    ("text", "steps"), [("100/0.2,0/0.3", ((1.0, 0.2), (0.0, 0.3))), ("50/1", ((0.5, 1.0),))]
)
def test_a_pattern_is_read_from_percent_seconds_text(
    text: str, steps: tuple[tuple[float, float], ...]
) -> None:
    assert parse_pattern(text) == Pattern(tuple(PatternStep(*s) for s in steps))


@pytest.mark.parametrize("text", ["100", "x/1", "100/0", "150/1", "", 7])
def test_a_malformed_pattern_says_what_is_accepted(text: object) -> None:
    with pytest.raises(ControlError, match="PERCENT/SECONDS") as refused:
        parse_pattern(text)  # type: ignore[arg-type]
    assert refused.value.field == "pattern"
