"""The NMP/1 adapter: this call -> exactly these bytes, from the golden vectors, and back."""

from __future__ import annotations

from typing import Any

import pytest
from massager_protocols.nmp import SetOutput, encode
from massager_protocols.vectors import load

from massager_sdk.model import DeviceEvent, DeviceStatus, EventKind, Pattern, PatternStep, Waveform
from massager_sdk.protocols import (
    Command,
    GetInfo,
    GetStatus,
    Keepalive,
    Reply,
    SetAutoOff,
    SetHeat,
    SetZones,
    StopAll,
    UploadPattern,
)
from massager_sdk.protocols.nmp import NmpAdapter

VECTORS = {v["name"]: v for v in load("nmp1")["messages"]}
TAPPING = Pattern((PatternStep(1.0, 0.12), PatternStep(0.0, 0.08), PatternStep(0.4, 0.1)))

#: Protocol-neutral command -> the golden vector it must encode to.
CALLS: list[tuple[Command, str]] = [
    (GetInfo(), "get info"),
    (GetStatus(), "get status"),
    (SetZones((0,), 3), "left neck zone at level 3, constant"),
    (SetZones((0, 1), 5, Waveform.WAVE, 2.0), "both neck zones swell to 5 every 2 s"),
    (SetZones((0, 1, 2, 3), 7, Waveform.PULSE, 0.25), "all four zones pulse at 7, 250 ms period"),
    (
        SetZones((1, 3), 6, pattern_slot=1, phase_s=0.6),
        "pattern 1 on the right zones, 600 ms out of phase",
    ),
    (SetZones((0, 1, 2, 3), 0), "zones off"),
    (SetHeat(40.0), "heat to 40.0 C"),
    (SetHeat(42.5), "heat to 42.5 C"),
    (SetHeat(None), "heat off"),
    (StopAll(), "stop all"),
    (Keepalive(), "keepalive"),
    (SetAutoOff(900), "auto-off after 15 minutes"),
    (SetAutoOff(0), "auto-off back to the device default"),
    (UploadPattern(1, TAPPING), "upload a 3-step tapping pattern to slot 1"),
]


@pytest.mark.parametrize(("command", "name"), CALLS, ids=[name for _, name in CALLS])
def test_a_call_encodes_to_exactly_the_vector_bytes(command: Command, name: str) -> None:
    vector = VECTORS[name]
    assert NmpAdapter().encode(command, vector["seq"]).hex(" ") == vector["hex"]


def decode(name: str, now: float = 5.0) -> list[Any]:
    return NmpAdapter().feed(bytes.fromhex(VECTORS[name]["hex"]), now)


def test_acks_and_nacks_become_replies() -> None:
    assert decode("ack of SET_OUTPUT") == [Reply(3, "SET_OUTPUT", True)]
    assert decode("nack: intensity out of range") == [
        Reply(4, "SET_OUTPUT", False, reason="OUT_OF_RANGE")
    ]
    assert decode("nack: heat locked") == [Reply(8, "SET_HEAT", False, reason="HEAT_LOCKED")]
    assert decode("nack: unknown type 0x7E") == [
        Reply(16, "TYPE_0x7E", False, reason="UNKNOWN_TYPE")
    ]


def test_info_becomes_capabilities() -> None:
    (reply,) = decode("info of a 4-zone heated massager")
    assert isinstance(reply, Reply) and reply.info is not None
    caps = reply.info
    assert (caps.model, caps.serial, caps.firmware) == ("NM-H4", "H4-000123", "1.4.2")
    assert [z.name for z in caps.zones][:2] == ["left neck", "right neck"]
    assert caps.heat is not None and caps.heat.targets_c == (38.0, 40.0, 42.0)
    assert caps.min_gap_s == 0.02 and caps.watchdog_s == 3.0


def test_status_becomes_a_protocol_neutral_status() -> None:
    (reply,) = decode("status: heating to 42.0 C, at 39.5 C, 76 % charging")
    assert isinstance(reply, Reply)
    assert reply.status == DeviceStatus(
        intensities=(3, 3, 0, 5),
        heat_target_c=42.0,
        temperature_c=39.5,
        battery_pct=76,
        battery_mv=3880,
        charging=True,
        auto_off_s=600,
        faults=frozenset(),
        time=5.0,
    )
    (telemetry,) = decode("status: telemetry (seq 0), mains power, no sensor, watchdog latched")
    assert isinstance(telemetry, DeviceStatus)
    assert telemetry.battery_pct is None and telemetry.battery_mv is None
    assert telemetry.temperature_c is None and telemetry.heat_target_c is None
    assert telemetry.faults == {"watchdog"}
    (cold,) = decode("status: below freezing, low battery")
    assert isinstance(cold, DeviceStatus)
    assert cold.temperature_c is not None and cold.temperature_c < 0
    assert cold.faults == {"low_battery"}


def test_events_become_protocol_neutral_events() -> None:
    assert decode("event: overheat raised at 45.2 C") == [
        DeviceEvent(EventKind.OVERHEAT, True, 45.2, "OVERHEAT", 5.0)
    ]
    assert decode("event: button pressed") == [
        DeviceEvent(EventKind.BUTTON, None, 0.0, "BUTTON", 5.0)
    ]
    assert decode("event: low battery at 10 %") == [
        DeviceEvent(EventKind.LOW_BATTERY, True, 10.0, "LOW_BATTERY", 5.0)
    ]


def test_the_stream_is_cut_anywhere_and_garbage_is_skipped() -> None:
    stream = b"\x00\xff" + b"".join(
        bytes.fromhex(VECTORS[n]["hex"])
        for n in ("ack of SET_OUTPUT", "event: button pressed", "nack: heat locked")
    )
    adapter = NmpAdapter()
    out: list[Any] = []
    for i in range(len(stream)):
        out += adapter.feed(stream[i : i + 1], 1.0)
    assert [type(o).__name__ for o in out] == ["Reply", "DeviceEvent", "Reply"]
    assert adapter.stats.frames == 3
    assert adapter.stats.bytes_skipped == 2


def test_busy_and_corrupted_refusals_are_retryable_others_are_not() -> None:
    from massager_protocols.nmp import Nack, NackCode

    adapter = NmpAdapter()
    for code, retryable in (
        (NackCode.BUSY, True),
        (NackCode.BAD_CRC, True),
        (NackCode.OUT_OF_RANGE, False),
    ):
        (reply,) = adapter.feed(encode(Nack(3, code), 9), 0.0)
        assert isinstance(reply, Reply) and reply.retryable is retryable


def test_a_long_pattern_step_is_split_to_fit_the_wire() -> None:
    adapter = NmpAdapter()
    message = adapter.message(UploadPattern(0, Pattern((PatternStep(0.5, 100.0),))))
    assert [(s.level_pct, s.duration_ms) for s in message.steps] == [  # type: ignore[attr-defined]
        (50, 65535),
        (50, 34465),
    ]


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (SetZones((8,), 1), "zone 8 is outside 0..7"),
        (SetZones((0,), 1, Waveform.WAVE, 70.0), "waveform period of 70.0 s is outside"),
        (SetHeat(500.0), "heat target 500.0 C is outside"),
        (SetAutoOff(70_000), "auto-off of 70000 s is outside"),
    ],
)
def test_what_the_wire_cannot_carry_is_refused_before_sending(command: Command, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        NmpAdapter().validate(command)


def test_encoding_matches_the_protocol_package() -> None:
    assert NmpAdapter().encode(SetZones((2,), 4), 77) == encode(SetOutput(0b100, 4), 77)


RECEIVE_ONLY = {v["name"]: v for v in load("nmp1")["receive_only"]}


@pytest.mark.parametrize(
    ("name", "levels"),
    [
        ("status: one zone at 6, auto-off in 4095 s or more", (6,)),
        ("status: four zones 1, 2, 3, 4", (1, 2, 3, 4)),
        ("status: five zones, the last alone in its byte", (15, 0, 9, 0, 7)),
        ("status: eight zones in one 20-byte frame", (1, 2, 3, 4, 5, 6, 7, 8)),
    ],
)
def test_each_zone_s_level_is_read_from_the_packed_status(name: str, levels: tuple[int]) -> None:
    (out,) = decode(name)
    status = out.status if isinstance(out, Reply) else out
    assert isinstance(status, DeviceStatus) and status.intensities == levels


def test_an_appended_field_is_skipped_and_a_1_0_status_still_read() -> None:
    adapter = NmpAdapter()
    appended, old = (
        bytes.fromhex(RECEIVE_ONLY[n]["hex"])
        for n in (
            "status of five zones with an appended field this revision does not know",
            "status from a 1.0 device of eight zones",
        )
    )
    first, second = adapter.feed(appended + old, 1.0)
    assert isinstance(first, DeviceStatus) and isinstance(second, DeviceStatus)
    assert (first.intensities, first.auto_off_s) == ((2, 4, 6, 8, 10), 300)
    assert (second.intensities, second.auto_off_s) == ((5, 5, 0, 0, 1, 2, 3, 4), 4500)
