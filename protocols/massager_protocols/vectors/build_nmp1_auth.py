"""Write ``nmp1_auth.json``: NMP/1 authenticated mode (spec section 10) as bytes.

The JSON file is the reference; tests check the code against it. Run by hand
when vectors are added:

    python -m massager_protocols.vectors.build_nmp1_auth

``frames`` are signed frames with their counters. ``session`` is one link's
session fed in order to a device holding ``key`` with nonce ``nonce``: each
step's frame and the answer a conforming device gives (ACK, or NACK
NOT_AUTHENTICATED with nothing changed). ``expansions`` show how a device
rebuilds the counter from its low 16 bits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from massager_protocols.crc import crc16_ccitt_false
from massager_protocols.nmp import (
    Keepalive,
    Message,
    PatternStep,
    SetAutoOff,
    SetHeat,
    SetOutput,
    StopAll,
    UploadPattern,
    Waveform,
    encode,
)
from massager_protocols.nmp.auth import expand_counter, key_id, sign_frame

#: The device's secret in these vectors (as a label would print it).
KEY = bytes(range(0x00, 0x20))
#: A key the device does not hold.
OTHER_KEY = bytes(range(0x40, 0x60))
NONCE = bytes.fromhex("a1b2c3d4e5f60718")
#: Another link's (or an older session's) nonce.
OTHER_NONCE = bytes.fromhex("0102030405060708")
#: The simulator model the session steps are meant for.
MODEL = "heat4-auth"


def _signed(
    message: Message, seq: int, counter: int, key: bytes = KEY, nonce: bytes = NONCE
) -> bytes:
    return sign_frame(key, nonce, counter, seq, message.TYPE, message.encode_payload())


def _frame(name: str, message: Message, seq: int, counter: int) -> dict[str, Any]:
    return {
        "name": name,
        "message": message.TYPE.name,
        "seq": seq,
        "counter": counter,
        "fields": message.fields(),
        "hex": _signed(message, seq, counter).hex(" "),
    }


def _tampered(frame: bytes, at: int) -> bytes:
    body = bytearray(frame[:-2])
    body[at] ^= 0x01
    return bytes(body) + crc16_ccitt_false(bytes(body[1:])).to_bytes(2, "little")


def _step(name: str, frame: bytes, reply: str) -> dict[str, Any]:
    return {"name": name, "hex": frame.hex(" "), "reply": reply}


def frames() -> list[dict[str, Any]]:
    """Signed frames of every type that must be signed."""
    return [
        _frame(
            "all four zones pulse at 7, 250 ms", SetOutput(0b1111, 7, Waveform.PULSE, 0, 250), 1, 1
        ),
        _frame("heat to 40.0 C", SetHeat(400), 2, 2),
        _frame("keepalive", Keepalive(), 3, 3),
        _frame("auto-off after 15 minutes", SetAutoOff(900), 4, 4),
        _frame(
            "upload a 2-step pattern to slot 0",
            UploadPattern(0, (PatternStep(100, 200), PatternStep(20, 300))),
            5,
            5,
        ),
        _frame("keepalive past the 16-bit wrap of the counter", Keepalive(), 6, 0x10002),
    ]


def session() -> list[dict[str, Any]]:
    """One session's frames, in order, and what a device answers."""
    ack, refused = "ACK", "NACK NOT_AUTHENTICATED"
    on = SetOutput(0b1111, 7, Waveform.PULSE, 0, 250)
    first = _signed(on, 1, 1)
    heat = SetHeat(400)
    return [
        _step("unsigned SET_OUTPUT", encode(on, 1), refused),
        _step("signed SET_OUTPUT, counter 1", first, ack),
        _step("the same frame again (replay)", first, refused),
        _step("SET_HEAT, counter 3 (counter 2 never arrived)", _signed(heat, 2, 3), ack),
        _step("SET_HEAT, counter 2 after 3 (reordered)", _signed(heat, 3, 2), refused),
        _step(
            "KEEPALIVE signed with another key", _signed(Keepalive(), 4, 4, key=OTHER_KEY), refused
        ),
        _step(
            "KEEPALIVE signed for another nonce",
            _signed(Keepalive(), 5, 4, nonce=OTHER_NONCE),
            refused,
        ),
        _step(
            "SET_HEAT with its target changed in flight (CRC fixed)",
            _tampered(_signed(SetHeat(450), 6, 4), 5),
            refused,
        ),
        _step("SET_OUTPUT with the trailer cut off", encode(SetOutput(1, 1), 7), refused),
        _step("STOP_ALL, unsigned: always allowed", encode(StopAll(), 8), ack),
        _step("KEEPALIVE, counter 4: refusals used no counter", _signed(Keepalive(), 9, 4), ack),
    ]


def expansions() -> list[dict[str, int]]:
    """Low 16 bits after a last accepted counter, and the counter a device checks."""
    cases = [(0, 1), (1, 1), (3, 2), (0xFFFF, 0x0000), (0x1FFFE, 0x0003), (0x12345, 0x2346)]
    return [
        {"last": last, "counter_lo": lo, "counter": expand_counter(last, lo)} for last, lo in cases
    ]


def build() -> dict[str, Any]:
    """The vectors document."""
    return {
        "description": (
            "NMP/1 authenticated mode (spec section 10). tag = HMAC-SHA-256(key, nonce | "
            "counter u32 LE | version | length | seq | type | message payload)[:5]; trailer = "
            "counter_lo u16 LE | tag."
        ),
        "key": KEY.hex(),
        "key_id": key_id(KEY),
        "other_key": OTHER_KEY.hex(),
        "nonce": NONCE.hex(),
        "other_nonce": OTHER_NONCE.hex(),
        "model": MODEL,
        "frames": frames(),
        "session": session(),
        "expansions": expansions(),
    }


def main() -> None:
    """Write nmp1_auth.json beside this module."""
    path = Path(__file__).with_name("nmp1_auth.json")
    path.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
