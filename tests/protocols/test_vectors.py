"""The golden vectors: every one parses to its fields and builds to its bytes."""

from __future__ import annotations

from typing import Any

import pytest
from massager_protocols.nmp import MESSAGES, MsgType, decode_frame, encode
from massager_protocols.vectors import load

VECTORS = load("nmp1")


def crc16_ccitt_false_bitwise(data: bytes) -> int:
    """A bit-by-bit reference CRC, independent of binascii, to check the vectors."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def test_reference_crc_check_value() -> None:
    assert crc16_ccitt_false_bitwise(b"123456789") == 0x29B1


@pytest.mark.parametrize("vector", VECTORS["messages"], ids=lambda v: v["name"])
def test_bytes_parse_to_fields(vector: dict[str, Any]) -> None:
    frame = decode_frame(bytes.fromhex(vector["hex"]))
    assert frame.seq == vector["seq"]
    assert MsgType(frame.msg_type).name == vector["message"]
    assert frame.message().fields() == vector["fields"]


@pytest.mark.parametrize("vector", VECTORS["messages"], ids=lambda v: v["name"])
def test_fields_build_to_bytes(vector: dict[str, Any]) -> None:
    cls = MESSAGES[MsgType[vector["message"]]]
    message = cls.from_fields(vector["fields"])
    assert encode(message, vector["seq"]).hex(" ") == vector["hex"]


@pytest.mark.parametrize("vector", VECTORS["messages"], ids=lambda v: v["name"])
def test_vector_crc_matches_reference(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["hex"])
    assert int.from_bytes(raw[-2:], "little") == crc16_ccitt_false_bitwise(raw[1:-2])


def test_vectors_cover_every_message_type() -> None:
    assert {v["message"] for v in VECTORS["messages"]} == {t.name for t in MsgType}


@pytest.mark.parametrize("exchange", VECTORS["exchanges"], ids=lambda v: v["name"])
def test_exchange_requests_are_valid_frames(exchange: dict[str, Any]) -> None:
    frame = decode_frame(bytes.fromhex(exchange["request_hex"]))
    assert frame.seq != 0, "hosts never use sequence number 0"
    assert exchange["reply"]["message"] in {t.name for t in MsgType}


@pytest.mark.parametrize("vector", VECTORS["receive_only"], ids=lambda v: v["name"])
def test_receive_only_frames_parse_to_their_fields(vector: dict[str, Any]) -> None:
    frame = decode_frame(bytes.fromhex(vector["hex"]))
    assert (frame.seq, MsgType(frame.msg_type).name) == (vector["seq"], vector["message"])
    assert frame.message().fields() == vector["fields"]


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS["receive_only"] if v["skipped_hex"]], ids=lambda v: v["name"]
)
def test_appended_fields_follow_the_zone_levels(vector: dict[str, Any]) -> None:
    # what this revision builds from the fields, then the bytes a receiver skips
    cls = MESSAGES[MsgType[vector["message"]]]
    built = cls.from_fields(vector["fields"]).encode_payload()
    payload = decode_frame(bytes.fromhex(vector["hex"])).payload
    assert payload == built + bytes.fromhex(vector["skipped_hex"])


def test_status_vectors_cover_one_four_five_and_eight_zones_in_one_write() -> None:
    statuses = [v for v in VECTORS["messages"] if v["message"] == "STATUS"]
    assert {1, 4, 5, 8} <= {len(v["fields"]["intensities"]) for v in statuses}
    assert all(len(bytes.fromhex(v["hex"])) <= 20 for v in statuses)


def test_a_status_level_byte_holds_two_zones() -> None:
    (eight,) = [v for v in VECTORS["messages"] if v["name"].startswith("status: eight zones")]
    payload = decode_frame(bytes.fromhex(eight["hex"])).payload
    assert eight["fields"]["intensities"] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert payload[9:] == bytes([0x21, 0x43, 0x65, 0x87])
    assert payload[3] & 0x80 and payload[8] >> 4 == 8  # the 1.1 mark; the zone count
