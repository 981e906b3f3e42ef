"""Write ``yh.json`` from the examples below (run by hand when vectors are added).

The JSON file is the reference: tests check the code against the stored file.

    python -m massager_protocols.vectors.build_yh
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from massager_protocols.yh import (
    Command,
    CrcRule,
    Direction,
    HeartbeatRequest,
    Message,
    Setting,
    Status,
    encode_frame,
)

HOST, DEVICE = Direction.HOST, Direction.DEVICE

MESSAGES: list[tuple[str, Message]] = [
    ("heartbeat request (keepalive)", HeartbeatRequest()),
    ("program 1, knead", Setting(HOST, Command.MODE, 1)),
    ("level 5", Setting(HOST, Command.LEVEL, 5)),
    ("level 19, the highest", Setting(HOST, Command.LEVEL, 19)),
    ("level 0: output off", Setting(HOST, Command.LEVEL, 0)),
    ("zone 0, neck", Setting(HOST, Command.ZONE, 0)),
    ("buzzer off", Setting(HOST, Command.BUZZER, 0)),
    ("timer 15 minutes", Setting(HOST, Command.TIMER, 15)),
    ("timer 255 minutes, the longest", Setting(HOST, Command.TIMER, 255)),
    ("device: level 5 in force", Setting(DEVICE, Command.LEVEL, 5)),
    ("device: battery level 1", Setting(DEVICE, Command.BATTERY, 1)),
    ("device: charging", Setting(DEVICE, Command.CHARGE, 1)),
    (
        "device heartbeat: running program 3 at level 7, zone 0, 12 minutes left",
        Status(running=1, battery=3, mode=3, level=7, zone=0, minutes=12),
    ),
    (
        "device heartbeat: stopped, battery empty",
        Status(running=0, battery=0, mode=0, level=0, zone=0, minutes=0),
    ),
]

#: The heartbeat printed in revision v0.1.2 (commit 00dcdda) of the document.
PUBLIC_EXAMPLE = "79 68 10 00 02 00 00 02 04 00 04 00 06 d9 0d 0a"
#: What the vendor app sends for level 5 (its frame builder: 68 79, length and CRC big-endian).
APP_LEVEL_5 = "68 79 00 0b 01 02 05 32 21 0d 0a"
#: The same with the CRC little-endian, which the app accepts since commit 89ca371.
APP_LEVEL_5_CRC_LE = "68 79 00 0b 01 02 05 21 32 0d 0a"


def _fields(message: Message) -> dict[str, Any]:
    if isinstance(message, Status):
        return {"command": "HEARTBEAT", "direction": int(DEVICE), **_status(message)}
    if isinstance(message, Setting):
        return {
            "command": Command(message.command).name,
            "direction": int(message.direction),
            "value": message.value,
        }
    return {"command": "HEARTBEAT", "direction": int(HOST)}


def _status(message: Status) -> dict[str, int]:
    return {
        "running": message.running,
        "battery": message.battery,
        "mode": message.mode,
        "level": message.level,
        "zone": message.zone,
        "minutes": message.minutes,
    }


def _exchange(name: str, request: bytes, command: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "model": "yh-ems",
        "request_hex": request.hex(" "),
        "reply": {"command": command, "fields": fields},
    }


def exchanges() -> list[dict[str, Any]]:
    """Request frames and the reply a conforming device gives (simulator model yh-ems)."""
    return [
        _exchange(
            "a heartbeat request is answered by the state",
            HeartbeatRequest().encode(),
            "HEARTBEAT",
            running=0,
            level=0,
            zone=0,
        ),
        _exchange(
            "a level is answered with the level in force",
            Setting(HOST, Command.LEVEL, 4).encode(),
            "LEVEL",
            value=4,
        ),
        _exchange(
            "a level out of range is refused: the level in force (0) comes back",
            encode_frame(HOST, Command.LEVEL, bytes([20])),
            "LEVEL",
            value=0,
        ),
        _exchange(
            "a program out of range is refused",
            encode_frame(HOST, Command.MODE, bytes([8])),
            "MODE",
            value=0,
        ),
        _exchange(
            "the timer in whole minutes",
            Setting(HOST, Command.TIMER, 10).encode(),
            "TIMER",
            value=10,
        ),
    ]


def build() -> dict[str, Any]:
    """The whole vector file."""
    return {
        "protocol": "yh",
        "revision": "v0.1.3",
        "crc": "CRC-16/XMODEM over sync..data, big-endian (little-endian accepted)",
        "messages": [
            {"name": name, "fields": _fields(message), "hex": message.encode().hex(" ")}
            for name, message in MESSAGES
        ],
        "public": [
            {
                "name": "heartbeat printed in the public protocol document",
                "revision": "v0.1.2",
                "hex": PUBLIC_EXAMPLE,
                "fields": {
                    "command": "HEARTBEAT",
                    "direction": 2,
                    **_status(Status(running=0, battery=2, mode=4, level=0, zone=4, minutes=0)),
                },
                "decodes_with_spec_crc": False,
                "crc_rule": CrcRule.BLANK_FIELD_LE.value,
                "note": "its CRC is not XMODEM over sync..data big-endian (0x89CA) but XMODEM "
                "over sync..data plus two zero bytes, little-endian; see specs/yh.md",
            },
            {
                "name": "the vendor app's level 5",
                "revision": "v0.1.3",
                "hex": APP_LEVEL_5,
                "fields": {"command": "LEVEL", "direction": 1, "value": 5},
                "decodes_with_spec_crc": True,
                "crc_rule": CrcRule.SPEC.value,
                "note": "lan-feng/massager EmsV2ProtocolAdapter.buildFrame",
            },
            {
                "name": "the vendor app's level 5, CRC little-endian",
                "revision": "v0.1.3",
                "hex": APP_LEVEL_5_CRC_LE,
                "fields": {"command": "LEVEL", "direction": 1, "value": 5},
                "decodes_with_spec_crc": False,
                "crc_rule": CrcRule.LITTLE_ENDIAN.value,
                "note": "accepted by the app since commit 89ca371 (new-board CRC compatibility)",
            },
        ],
        "exchanges": exchanges(),
    }


def main() -> None:
    """Rewrite ``yh.json`` beside this script."""
    path = Path(__file__).with_name("yh.json")
    path.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
