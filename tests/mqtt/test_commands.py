"""Command checks: every field, every kind of bad payload, and how fields combine."""

from __future__ import annotations

import json

import pytest
from massager_simulator.model import load_model

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.control import Shape
from massager_sdk.model import Pattern, PatternStep, Waveform
from massager_sdk.mqtt.commands import (
    FIELDS,
    Command,
    CommandContext,
    CommandError,
    parse_json_command,
    parse_plain_command,
    zone_keys,
)
from massager_sdk.protocols.nmp import capabilities_from_info

PROGRAMS = ("classic", "office-break")


def caps(model: str) -> DeviceCapabilities:
    return capabilities_from_info(load_model(model).info())


HEAT4 = CommandContext.from_capabilities(caps("heat4"), PROGRAMS)
NECK2 = CommandContext.from_capabilities(caps("neck2"), PROGRAMS)


def cmd(obj: object, ctx: CommandContext = HEAT4) -> Command:
    return parse_json_command(json.dumps(obj).encode(), ctx)


def refused(obj: object, ctx: CommandContext = HEAT4) -> CommandError:
    with pytest.raises(CommandError) as info:
        cmd(obj, ctx)
    return info.value


def test_context_of_heat4() -> None:
    assert HEAT4.zone_keys == ("left_neck", "right_neck", "left_shoulder", "right_shoulder")
    assert HEAT4.intensity_steps == 10
    assert HEAT4.heat_options() == ["off", "38", "40", "42"]
    assert NECK2.heat_options() == ["off"]
    assert NECK2.zone_keys == ("left", "right")


def test_zone_keys_stay_unique() -> None:
    assert zone_keys(["Neck", "neck", "!!"]) == ("neck", "neck_1", "zone2")


# -- every field -------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"state": "ON"}, Command(state="ON")),
        ({"state": "on"}, Command(state="ON")),
        ({"state": True}, Command(state="ON")),
        ({"state": "OFF"}, Command(state="OFF")),
        ({"state": False}, Command(state="OFF")),
        ({"intensity": 0}, Command(intensity=0)),
        ({"intensity": 10}, Command(intensity=10)),
        ({"intensity": 4.0}, Command(intensity=4)),
        ({"zones": {"left_neck": 3}}, Command(zones=((0, 3),))),
        ({"zones": {"Right Shoulder": 2, "0": 1}}, Command(zones=((0, 1), (3, 2)))),
        ({"intensity": 2, "zones": {"left_shoulder": 5}}, Command(intensity=2, zones=((2, 5),))),
        ({"heat": 40}, Command(heat=40.0)),
        ({"heat": "42"}, Command(heat=42.0)),
        ({"heat": 38.02}, Command(heat=38.0)),
        ({"heat": "off"}, Command(heat="off")),
        ({"heat": None}, Command(heat="off")),
        ({"heat": False}, Command(heat="off")),
        ({"program": "classic"}, Command(program="classic")),
        ({"program": "none"}, Command(program="none")),
        ({"program": "None"}, Command(program="none")),
        ({"state": "ON", "program": "classic"}, Command(state="ON", program="classic")),
        ({"program": "none", "intensity": 3}, Command(program="none", intensity=3)),
        ({"pause": True}, Command(action="pause")),
        ({"resume": True}, Command(action="resume")),
        ({"skip": True}, Command(action="skip")),
        ({"state": "ON", "intensity": 3, "heat": 40}, Command(state="ON", intensity=3, heat=40.0)),
    ],
)
def test_accepted_commands(payload: dict[str, object], expected: Command) -> None:
    assert cmd(payload) == expected


def test_off_always_wins_and_reports_what_it_ignored() -> None:
    command = cmd({"state": "OFF", "intensity": 99, "program": "nope"})
    assert command == Command(state="OFF", ignored=("intensity", "program"))
    assert command.emergency_stop


# -- every kind of bad payload -------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "says", "accepted"),
    [
        (b"", "not JSON", "JSON object"),
        (b"{intensity: 3}", "not JSON", "JSON object"),
        (b"3", "is a JSON object, got a number", "object"),
        (b"[1, 2]", "got an array", "object"),
        (b'"ON"', "got a string", "object"),
        (b"{}", "empty command", "state, intensity"),
        (b"\xff\xfe", "not UTF-8", "UTF-8"),
        (b'{"colour": "red"}', "unknown field 'colour'", ", ".join(FIELDS)),
        (b'{"a": 1, "b": 2}', "unknown fields 'a', 'b'", ", ".join(FIELDS)),
    ],
)
def test_malformed_payloads(payload: bytes, says: str, accepted: str) -> None:
    with pytest.raises(CommandError, match=says) as info:
        parse_json_command(payload, HEAT4)
    assert accepted in (info.value.accepted or "")


def test_oversized_payloads_are_refused_before_parsing() -> None:
    payload = json.dumps({"intensity": 1, "pad": "x" * 5000}).encode()
    with pytest.raises(CommandError, match="too large") as info:
        parse_json_command(payload, HEAT4)
    assert info.value.accepted == "at most 4096 bytes"
    with pytest.raises(CommandError, match="too large"):
        parse_json_command(b"{}", HEAT4, max_bytes=1)


@pytest.mark.parametrize(
    ("payload", "field", "says", "accepted"),
    [
        ({"state": "MAYBE"}, "state", "'MAYBE' is not a state", '"ON" or "OFF"'),
        ({"state": 1}, "state", "a number is not a state", '"ON" or "OFF"'),
        ({"intensity": "high"}, "intensity", "'high' is not a number", "an integer 0..10"),
        ({"intensity": "3"}, "intensity", "'3' is not a number", "an integer 0..10"),
        ({"intensity": True}, "intensity", "a boolean is not a number", "an integer 0..10"),
        ({"intensity": [3]}, "intensity", "an array is not a number", "an integer 0..10"),
        ({"intensity": 2.5}, "intensity", "not a whole step", "an integer 0..10"),
        ({"intensity": 11}, "intensity", "out of range", "an integer 0..10"),
        ({"intensity": -1}, "intensity", "out of range", "an integer 0..10"),
        ({"intensity": 1e308 * 10}, "intensity", "not a number", "an integer 0..10"),
        ({"zones": 3}, "zones", "not a zone map", "left_neck"),
        ({"zones": {}}, "zones", "not a zone map", "left_neck"),
        ({"zones": {"tail": 3}}, "zones.tail", "no zone 'tail'", "left_neck (or 0)"),
        ({"zones": {"left_neck": 12}}, "zones.left_neck", "out of range", "0..10"),
        (
            {"zones": {"left_neck": 1, "Left Neck": 2}},
            "zones.Left Neck",
            "named twice",
            None,
        ),
        ({"heat": 41}, "heat", "not one of the device's heat presets", "off, 38, 40, 42"),
        ({"heat": "hot"}, "heat", "'hot' is not a heat setting", "off, 38, 40, 42"),
        ({"heat": [40]}, "heat", "an array is not a heat setting", "off, 38, 40, 42"),
        ({"program": "yoga"}, "program", "no program 'yoga'", "none, classic, office-break"),
        ({"program": 3}, "program", "a number is not a program name", "none, classic"),
        ({"pause": False}, "pause", "send true", "true"),
        ({"pause": "yes"}, "pause", "send true", "true"),
        ({"pause": True, "resume": True}, None, "contradict", "one of pause, resume, skip"),
        ({"program": "classic", "intensity": 3}, "program", "cannot be combined", "program alone"),
        ({"program": "classic", "pause": True}, "program", "cannot be combined", "program alone"),
        ({"program": "none", "skip": True}, "skip", "send them separately", None),
        ({"pause": True, "intensity": 3}, "pause", "separate command", None),
    ],
)
def test_wrong_types_and_values_say_what_is_accepted(
    payload: dict[str, object], field: str | None, says: str, accepted: str | None
) -> None:
    error = refused(payload)
    assert says in error.message
    assert error.field == field
    if accepted is not None:
        assert accepted in (error.accepted or "")
    # The published form carries the same facts.
    assert error.to_dict() == {"error": str(error), "field": field, "accepted": error.accepted}


def test_heat_on_a_device_without_a_heater() -> None:
    error = refused({"heat": 40}, NECK2)
    assert (error.field, error.message) == ("heat", "this device has no heater")


def test_neck2_levels_stop_at_five() -> None:
    assert cmd({"intensity": 5}, NECK2).intensity == 5
    assert refused({"intensity": 6}, NECK2).accepted == "an integer 0..5"


# -- plain topics --------------------------------------------------------------


@pytest.mark.parametrize(
    ("attr", "payload", "expected"),
    [
        ("state", b"ON", Command(state="ON")),
        ("state", b" off\n", Command(state="OFF")),
        ("intensity", b"7", Command(intensity=7)),
        ("intensity", b"7.0", Command(intensity=7)),  # Home Assistant's number sends floats
        ("heat", b"40", Command(heat=40.0)),
        ("heat", b"off", Command(heat="off")),
        ("program", b"classic", Command(program="classic")),
        ("program", b"none", Command(program="none")),
        ("pause", b"", Command(action="pause")),
        ("resume", b"PRESS", Command(action="resume")),
        ("skip", b"1", Command(action="skip")),
        ("zones/right_neck", b"4", Command(zones=((1, 4),))),
        ("zones/3", b"2", Command(zones=((3, 2),))),
    ],
)
def test_plain_commands(attr: str, payload: bytes, expected: Command) -> None:
    assert parse_plain_command(attr, payload, HEAT4) == expected


@pytest.mark.parametrize(
    ("attr", "payload", "says"),
    [
        ("intensity", b"high", "'high' is not a number"),
        ("intensity", b"", "'' is not a number"),
        ("intensity", b"nan", "is not a number"),
        ("intensity", b"20", "out of range"),
        ("state", b"toggle", "'toggle' is not a state"),
        ("heat", b"39", "heat presets"),
        ("program", b"yoga", "no program 'yoga'"),
        ("zones/tail", b"3", "no zone 'tail'"),
        ("colour", b"red", "no command topic set/colour"),
        ("intensity", b"\xff", "not UTF-8"),
        ("intensity", b"1" * 5000, "too large"),
    ],
)
def test_bad_plain_commands(attr: str, payload: bytes, says: str) -> None:
    with pytest.raises(CommandError, match=says):
        parse_plain_command(attr, payload, HEAT4)


def test_an_unknown_plain_topic_lists_the_accepted_ones() -> None:
    with pytest.raises(CommandError) as info:
        parse_plain_command("colour", b"red", HEAT4)
    assert "set/intensity" in (info.value.accepted or "")
    assert "set/zones/<zone>" in (info.value.accepted or "")


# -- a waveform or pattern goes with the levels, to the control layer -------------------

TAP = Pattern((PatternStep(1.0, 0.2), PatternStep(0.0, 0.3)))


@pytest.mark.parametrize(
    ("payload", "shape"),
    [
        ({"intensity": 3, "pattern": "100/0.2,0/0.3"}, Shape(pattern=TAP)),
        ({"intensity": 3, "waveform": "Pulse", "period": 2}, Shape(Waveform.PULSE, 2.0)),
        ({"zones": {"left_neck": 3}, "waveform": "constant"}, Shape()),
    ],
)
def test_a_shape_is_carried_to_the_control_request(
    payload: dict[str, object], shape: Shape
) -> None:
    command = cmd(payload)
    assert command.shape == shape
    assert command.request().shape == shape and command.request().sets_outputs


@pytest.mark.parametrize(
    ("payload", "field", "says"),
    [
        ({"intensity": 3, "waveform": "square"}, "waveform", "'square' is not a waveform"),
        ({"intensity": 3, "waveform": 2}, "waveform", "a number is not a waveform"),
        ({"intensity": 3, "waveform": "wave", "period": "2"}, "period", "a string is not a"),
        ({"intensity": 3, "pattern": "100"}, "pattern", "bad step '100'"),
        ({"program": "classic", "pattern": "100/1"}, "program", "cannot be combined"),
        ({"skip": True, "waveform": "wave", "period": 1}, "skip", "separate command"),
    ],
)
def test_a_bad_shape_is_refused_whole(payload: dict[str, object], field: str, says: str) -> None:
    error = refused(payload)
    assert error.field == field
    assert says in error.message


def test_plain_topics_take_no_shape() -> None:
    with pytest.raises(CommandError, match="no command topic set/pattern"):
        parse_plain_command("pattern", b"100/1", HEAT4)
