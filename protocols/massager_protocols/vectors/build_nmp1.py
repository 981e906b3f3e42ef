"""Write ``nmp1.json`` from the examples below (run by hand when vectors are added).

The JSON file is the reference: tests check the code against the stored file,
never the other way round, so a change to the code that alters any byte fails.

    python -m massager_protocols.vectors.build_nmp1
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from massager_protocols.nmp import (
    STUCK_AT_READING,
    Ack,
    EnterTestMode,
    Event,
    EventCode,
    EventState,
    ExitTestMode,
    Fault,
    Feature,
    GetInfo,
    GetSession,
    GetStatus,
    Info,
    Keepalive,
    Message,
    Nack,
    NackCode,
    Pair,
    PatternStep,
    Session,
    SessionFlag,
    SetAutoOff,
    SetHeat,
    SetOutput,
    Status,
    StopAll,
    TestFault,
    TestInject,
    UploadPattern,
    Waveform,
    ZoneInfo,
    ZonePosition,
    encode,
    encode_frame,
)

MESSAGES: list[tuple[str, int, Message]] = [
    ("get info", 1, GetInfo()),
    ("get status", 2, GetStatus()),
    ("left neck zone at level 3, constant", 3, SetOutput(0b0001, 3, Waveform.CONSTANT, 0, 0)),
    ("both neck zones swell to 5 every 2 s", 4, SetOutput(0b0011, 5, Waveform.WAVE, 0, 2000)),
    ("all four zones pulse at 7, 250 ms period", 5, SetOutput(0b1111, 7, Waveform.PULSE, 0, 250)),
    (
        "pattern 1 on the right zones, 600 ms out of phase",
        6,
        SetOutput(0b1010, 6, Waveform.PATTERN, 1, 600),
    ),
    ("zones off", 7, SetOutput(0b1111, 0, Waveform.CONSTANT, 0, 0)),
    ("heat to 40.0 C", 8, SetHeat(400)),
    ("heat to 42.5 C", 9, SetHeat(425)),
    ("heat off", 10, SetHeat(0)),
    ("stop all", 11, StopAll()),
    ("keepalive", 12, Keepalive()),
    ("keepalive, sequence number wraps at 255", 255, Keepalive()),
    ("auto-off after 15 minutes", 13, SetAutoOff(900)),
    ("auto-off back to the device default", 14, SetAutoOff(0)),
    (
        "upload a 3-step tapping pattern to slot 1",
        15,
        UploadPattern(1, (PatternStep(100, 120), PatternStep(0, 80), PatternStep(40, 100))),
    ),
    ("ack of SET_OUTPUT", 3, Ack(0x03)),
    ("nack: intensity out of range", 4, Nack(0x03, NackCode.OUT_OF_RANGE)),
    ("nack: heat locked", 8, Nack(0x04, NackCode.HEAT_LOCKED)),
    ("nack: unknown type 0x7E", 16, Nack(0x7E, NackCode.UNKNOWN_TYPE)),
    (
        "info of a 4-zone heated massager",
        1,
        Info(
            1,
            1,
            4,
            2,
            int(
                Feature.HEAT
                | Feature.PATTERNS
                | Feature.BATTERY
                | Feature.CHARGING
                | Feature.BUTTON
                | Feature.TEMPERATURE_SENSOR
            ),
            10,
            3000,
            900,
            1200,
            450,
            2200,
            4,
            16,
            20,
            "NM-H4",
            "H4-000123",
            (380, 400, 420),
            (
                ZoneInfo(ZonePosition.NECK_LEFT, "left neck"),
                ZoneInfo(ZonePosition.NECK_RIGHT, "right neck"),
                ZoneInfo(ZonePosition.SHOULDER_LEFT, "left shoulder"),
                ZoneInfo(ZonePosition.SHOULDER_RIGHT, "right shoulder"),
            ),
        ),
    ),
    (
        "info of a mains handheld, no heat, no patterns, a non-ASCII zone name",
        1,
        Info(
            1,
            0,
            9,
            0,
            0,
            3,
            5000,
            900,
            1200,
            0,
            0,
            0,
            0,
            50,
            "Four-finger",
            "FF-7",
            (),
            (ZoneInfo(ZonePosition.HANDHELD, "Kopf \u2160"),),
        ),
    ),
    (
        "status: heating to 42.0 C, at 39.5 C, 76 % charging",
        2,
        Status.make(
            battery_pct=76,
            charging=True,
            battery_mv=3880,
            heat_target_dc=420,
            temperature_dc=395,
            auto_off_s=600,
            intensities=(3, 3, 0, 5),
        ),
    ),
    (
        "status: telemetry (seq 0), mains power, no sensor, watchdog latched",
        0,
        Status.make(
            battery_pct=None,
            faults=int(Fault.WATCHDOG),
            intensities=(0,),
        ),
    ),
    (
        "status: below freezing, low battery",
        0,
        Status.make(
            battery_pct=8,
            battery_mv=3350,
            faults=int(Fault.LOW_BATTERY),
            heat_target_dc=0,
            temperature_dc=-55,
            auto_off_s=0,
            intensities=(0, 0),
        ),
    ),
    (
        "status: one zone at 6, auto-off in 4095 s or more",
        0,
        Status.make(battery_pct=None, auto_off_s=5400, intensities=(6,)),
    ),
    (
        "status: four zones 1, 2, 3, 4",
        0,
        Status.make(battery_pct=55, battery_mv=3790, auto_off_s=900, intensities=(1, 2, 3, 4)),
    ),
    (
        "status: five zones, the last alone in its byte",
        5,
        Status.make(battery_pct=90, battery_mv=4050, auto_off_s=1, intensities=(15, 0, 9, 0, 7)),
    ),
    (
        "status: eight zones in one 20-byte frame",
        0,
        Status.make(
            battery_pct=100,
            charging=True,
            battery_mv=4180,
            heat_target_dc=400,
            temperature_dc=371,
            auto_off_s=1200,
            intensities=(1, 2, 3, 4, 5, 6, 7, 8),
        ),
    ),
    (
        "status: zone count 0, the layout's least (no level bytes)",
        0,
        Status.make(battery_pct=None, heat_target_dc=380, temperature_dc=300, auto_off_s=30),
    ),
    ("event: overheat raised at 45.2 C", 0, Event(EventCode.OVERHEAT, EventState.RAISED, 452)),
    ("event: button pressed", 0, Event(EventCode.BUTTON, EventState.MOMENTARY, 0)),
    ("event: low battery at 10 %", 0, Event(EventCode.LOW_BATTERY, EventState.RAISED, 10)),
    ("get session (authenticated mode)", 17, GetSession()),
    ("pair: a new secret 00 01 .. 1f", 18, Pair(tuple(range(32)))),
    (
        "session: label key, pairing window open",
        17,
        Session(
            int(SessionFlag.LABEL_KEY | SessionFlag.PAIRING_OPEN),
            0x1C2D3E4F,
            (0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x07, 0x18),
        ),
    ),
    (
        "enter test mode: the magic and the CRC of serial H4-000001",
        19,
        EnterTestMode.for_serial("H4-000001"),
    ),
    ("exit test mode", 20, ExitTestMode()),
    (
        "test mode: the sensor sticks at 46.0 C",
        21,
        TestInject(TestFault.SENSOR_STUCK, 460),
    ),
    (
        "test mode: the sensor sticks at its reading",
        22,
        TestInject(TestFault.SENSOR_STUCK, STUCK_AT_READING),
    ),
    ("test mode: the battery reads 7 %", 23, TestInject(TestFault.BATTERY_LEVEL, 7)),
    ("test mode: the battery gauge again", 24, TestInject(TestFault.BATTERY_LEVEL, -1)),
    ("test mode: press the button", 25, TestInject(TestFault.BUTTON)),
    ("nack: outside test mode", 25, Nack(0x14, NackCode.TEST_MODE_REFUSED)),
]


def receive_only() -> list[dict[str, Any]]:
    """Frames a receiver parses to the fields given but that this revision never
    builds: a STATUS with a field a later revision appends (skipped), and a 1.0
    device's STATUS (``faults`` bit 7 clear: a byte per zone to the end)."""
    five = Status.make(
        battery_pct=80, battery_mv=3990, auto_off_s=300, intensities=(2, 4, 6, 8, 10)
    )
    appended = bytes([0x5A, 0x01, 0x02])  # three bytes of fields this revision does not know
    ten = dataclasses.replace(
        Status.make(battery_pct=62, battery_mv=3850, intensities=(5, 5, 0, 0, 1, 2, 3, 4)),
        auto_off_s=4500,  # 1.0's auto-off had 16 bits
    )
    return [
        {
            "name": "status of five zones with an appended field this revision does not know",
            "message": "STATUS",
            "seq": 0,
            "fields": five.fields(),
            "skipped_hex": appended.hex(" "),
            "hex": encode_frame(0, Status.TYPE, five.encode_payload() + appended).hex(" "),
        },
        {
            "name": "status from a 1.0 device of eight zones",
            "message": "STATUS",
            "seq": 0,
            "fields": ten.fields(),
            "skipped_hex": "",
            "hex": encode_frame(0, Status.TYPE, ten.encode_payload_1_0()).hex(" "),
        },
    ]


def _exchange(name: str, model: str, request: bytes, message: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "model": model,
        "request_hex": request.hex(" "),
        "reply": {"message": message, "fields": fields},
    }


def exchanges() -> list[dict[str, Any]]:
    """Request frames and the replies a conforming device gives, per simulator model."""
    out_of_range = int(NackCode.OUT_OF_RANGE)
    return [
        _exchange(
            "keepalive is acknowledged", "heat4", encode(Keepalive(), 1), "ACK", acked_type=0x06
        ),
        _exchange(
            "info reports protocol 1 and the 45 C heat limit",
            "heat4",
            encode(GetInfo(), 2),
            "INFO",
            protocol_version=1,
            heat_limit_dc=450,
        ),
        _exchange(
            "status of an idle device",
            "heat4",
            encode(GetStatus(), 3),
            "STATUS",
            faults=0,
            intensities=[0, 0, 0, 0],
            auto_off_s=0,
        ),
        _exchange(
            "a valid output is acknowledged",
            "heat4",
            encode(SetOutput(0b0001, 3, Waveform.CONSTANT, 0, 0), 4),
            "ACK",
            acked_type=3,
        ),
        _exchange(
            "intensity above the steps is refused",
            "heat4",
            encode(SetOutput(0b0001, 200, Waveform.CONSTANT, 0, 0), 5),
            "NACK",
            acked_type=3,
            code=out_of_range,
        ),
        _exchange(
            "a zone beyond the zone list is refused",
            "heat4",
            encode(SetOutput(0b10000, 3, Waveform.CONSTANT, 0, 0), 6),
            "NACK",
            acked_type=3,
            code=out_of_range,
        ),
        _exchange(
            "an unknown waveform is refused",
            "heat4",
            encode(SetOutput(0b0001, 3, 9, 0, 0), 7),
            "NACK",
            acked_type=3,
            code=out_of_range,
        ),
        _exchange(
            "a pattern slot never uploaded is refused",
            "heat4",
            encode(SetOutput(0b0001, 3, Waveform.PATTERN, 3, 0), 8),
            "NACK",
            acked_type=3,
            code=out_of_range,
        ),
        _exchange(
            "heat to 40 C is acknowledged", "heat4", encode(SetHeat(400), 9), "ACK", acked_type=4
        ),
        _exchange(
            "heat above the limit is refused",
            "heat4",
            encode(SetHeat(500), 10),
            "NACK",
            acked_type=4,
            code=out_of_range,
        ),
        _exchange(
            "heat on a device without a heater is refused",
            "neck2",
            encode(SetHeat(400), 11),
            "NACK",
            acked_type=4,
            code=out_of_range,
        ),
        _exchange(
            "auto-off above the maximum is refused",
            "heat4",
            encode(SetAutoOff(5000), 12),
            "NACK",
            acked_type=7,
            code=out_of_range,
        ),
        _exchange(
            "a pattern upload is acknowledged",
            "heat4",
            encode(UploadPattern(0, (PatternStep(100, 100), PatternStep(0, 100))), 13),
            "ACK",
            acked_type=8,
        ),
        _exchange(
            "an empty pattern is refused",
            "heat4",
            encode(UploadPattern(0, ()), 14),
            "NACK",
            acked_type=8,
            code=out_of_range,
        ),
        _exchange("stop all is acknowledged", "neck2", encode(StopAll(), 15), "ACK", acked_type=5),
        _exchange(
            "an unknown message type is refused",
            "neck2",
            encode_frame(16, 0x7E, b""),
            "NACK",
            acked_type=0x7E,
            code=int(NackCode.UNKNOWN_TYPE),
        ),
        _exchange(
            "a short payload is refused",
            "neck2",
            encode_frame(17, 0x03, b"\x01\x02"),
            "NACK",
            acked_type=3,
            code=int(NackCode.BAD_LENGTH),
        ),
        _exchange(
            "the handheld reports one zone",
            "handheld",
            encode(GetStatus(), 18),
            "STATUS",
            intensities=[0],
        ),
        # Test mode (section 12): a device not built for test knows none of its types.
        *(
            _exchange(
                f"{message.TYPE.name} is an unknown type on a production device",
                "heat4",
                encode(message, 19 + index),
                "NACK",
                acked_type=int(message.TYPE),
                code=int(NackCode.UNKNOWN_TYPE),
            )
            for index, message in enumerate(
                (
                    EnterTestMode.for_serial("H4-000001"),
                    ExitTestMode(),
                    TestInject(TestFault.BUTTON),
                )
            )
        ),
    ]


def _host(at_ms: int, message: Message, seq: int, reply: str) -> dict[str, Any]:
    return {"at_ms": at_ms, "host_hex": encode(message, seq).hex(" "), "reply": reply}


def _event(code: EventCode, state: EventState, value: int | None) -> dict[str, Any]:
    """An EVENT the device sends; with a value, its exact frame too."""
    step: dict[str, Any] = {"device": "EVENT", "fields": {"code": int(code), "state": int(state)}}
    if value is not None:
        step["fields"]["value"] = value
        step["device_hex"] = encode(Event(int(code), int(state), value), 0).hex(" ")
    return step


def _stopped(flag: Fault | int) -> dict[str, Any]:
    """The STATUS (seq 0) that shows everything off after a stop."""
    fields: dict[str, Any] = {"heat_target_dc": 0, "zones_off": True}
    if flag:
        fields["faults_set"] = int(flag)
    return {"device": "STATUS", "fields": fields}


def traces() -> list[dict[str, Any]]:
    """Device-initiated sequences: what a conforming device sends, in order, after the
    host's frames and the bench's actions. ``keepalive_ms`` (when set) is how often
    the host sends KEEPALIVE in between (frames not listed, numbered on from the last
    listed one); a device's periodic STATUS telemetry is not listed."""
    return [
        {
            "name": "watchdog stop: the host falls silent",
            "model": "heat4",
            "keepalive_ms": None,
            "until_ms": 4000,
            "host": [
                _host(0, SetOutput(0b1, 3, Waveform.CONSTANT, 0, 0), 1, "ACK"),
                _host(0, SetHeat(400), 2, "ACK"),
            ],
            "bench": [],
            "device": [
                {"at_ms": 3000, **_event(EventCode.WATCHDOG_STOP, EventState.RAISED, 0)},
                {"at_ms": 3000, **_stopped(Fault.WATCHDOG)},
            ],
        },
        {
            "name": "auto-off after the 2 s set",
            "model": "heat4",
            "keepalive_ms": 1000,
            "until_ms": 3000,
            "host": [
                _host(0, SetAutoOff(2), 1, "ACK"),
                _host(0, SetOutput(0b1, 3, Waveform.CONSTANT, 0, 0), 2, "ACK"),
            ],
            "bench": [],
            "device": [
                {"at_ms": 2000, **_event(EventCode.AUTO_OFF, EventState.RAISED, 2)},
                {"at_ms": 2000, **_stopped(Fault.AUTO_OFF)},
            ],
        },
        {
            "name": "the button stops everything",
            "model": "heat4",
            "keepalive_ms": 1000,
            "until_ms": 1500,
            "host": [
                _host(0, SetOutput(0b1111, 3, Waveform.CONSTANT, 0, 0), 1, "ACK"),
                _host(0, SetHeat(400), 2, "ACK"),
            ],
            "bench": [{"at_ms": 500, "action": "press_button"}],
            "device": [
                {"at_ms": 500, **_event(EventCode.BUTTON, EventState.MOMENTARY, 0)},
                {"at_ms": 500, **_stopped(0)},
            ],
        },
        {
            "name": "overheat: a heater stuck on is cut at the limit",
            "model": "heat4",
            "keepalive_ms": 1000,
            "until_ms": 120000,
            "host": [_host(0, SetHeat(420), 1, "ACK")],
            "bench": [{"at_ms": 0, "action": "heater_stuck_on"}],
            "device": [
                {"at_ms": None, **_event(EventCode.OVERHEAT, EventState.RAISED, None)},
                {
                    "at_ms": None,
                    "device": "STATUS",
                    "fields": {"heat_target_dc": 0, "faults_set": int(Fault.OVERHEAT)},
                },
            ],
        },
        {
            "name": "low battery: warned, heat cut, then shut down",
            "model": "heat4",
            "battery_pct": 10.5,
            "keepalive_ms": 1000,
            "until_ms": 600000,
            "host": [
                _host(0, SetOutput(0b1111, 10, Waveform.CONSTANT, 0, 0), 1, "ACK"),
                _host(0, SetHeat(420), 2, "ACK"),
                _host(0, SetAutoOff(1200), 3, "ACK"),
            ],
            "bench": [{"at_ms": 0, "action": "drain_fast"}],
            "device": [
                {"at_ms": None, **_event(EventCode.LOW_BATTERY, EventState.RAISED, 10)},
                {
                    "at_ms": None,
                    "device": "STATUS",
                    "fields": {"heat_target_dc": 0, "faults_set": int(Fault.LOW_BATTERY)},
                },
                {"at_ms": None, **_event(EventCode.SHUTDOWN, EventState.RAISED, 3)},
                {"at_ms": None, **_stopped(Fault.BATTERY_CRITICAL)},
            ],
        },
    ]


def build() -> dict[str, Any]:
    """The vectors document."""
    return {
        "protocol": "NMP/1",
        "crc": "CRC-16/CCITT-FALSE over version..payload, little-endian",
        "messages": [
            {
                "name": name,
                "message": message.TYPE.name,
                "seq": seq,
                "fields": message.fields(),
                "hex": encode(message, seq).hex(" "),
            }
            for name, seq, message in MESSAGES
        ],
        "receive_only": receive_only(),
        "exchanges": exchanges(),
        "traces": traces(),
    }


def main() -> None:
    """Write nmp1.json beside this module."""
    path = Path(__file__).with_name("nmp1.json")
    path.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
