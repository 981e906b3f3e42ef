"""The "yh" codec against its golden vectors, the public example and random input."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from massager_protocols import FrameError, MalformedPayload, ProtocolError, yh
from massager_protocols.vectors import load
from massager_protocols.yh import spec

VECTORS = load("yh")


def _expected(entry: dict[str, object]) -> yh.Message:
    fields = dict(entry["fields"])  # type: ignore[call-overload]
    command = yh.Command[fields.pop("command")]
    direction = fields.pop("direction")
    if command is yh.Command.HEARTBEAT:
        return yh.HeartbeatRequest() if direction == 1 else yh.Status(**fields)
    return yh.Setting(direction, command, fields["value"])


@pytest.mark.parametrize("entry", VECTORS["messages"], ids=lambda e: e["name"])
def test_each_message_encodes_to_its_vector_and_back(entry: dict[str, object]) -> None:
    message = _expected(entry)
    data = bytes.fromhex(str(entry["hex"]))
    assert message.encode() == data
    frame = yh.decode_frame(data)
    assert frame.message() == message
    # The construct definition that backs the spec reads the same frame.
    parsed = yh.FRAME.parse(data)
    assert (parsed.direction, parsed.command, parsed.data) == (
        frame.direction,
        frame.command,
        frame.data,
    )


def test_the_public_example_is_kept_as_printed_and_refused_by_the_documented_crc() -> None:
    example = next(e for e in VECTORS["public"] if e["revision"] == "v0.1.2")
    data = bytes.fromhex(example["hex"])
    old = yh.Revision.V0_1_2
    with pytest.raises(FrameError, match="CRC is 06 d9, computed 89 ca"):
        yh.decode_frame(data, revision=old)
    rules = (yh.CrcRule.SPEC, yh.CrcRule(example["crc_rule"]))
    message = yh.decode_frame(data, rules, revision=old).message()
    assert message == _expected(example)
    # Re-encoding with the documented rule gives another CRC: the example is not "fixed".
    assert message.encode(old) != data
    assert yh.encode_frame(2, 0, data[6:12], yh.CrcRule.BLANK_FIELD_LE, revision=old) == data


@pytest.mark.parametrize(
    "entry",
    [e for e in VECTORS["public"] if e["revision"] == "v0.1.3"],
    ids=lambda e: e["name"],
)
def test_the_apps_frames_decode_with_the_crc_in_either_byte_order(entry: dict[str, object]) -> None:
    data = bytes.fromhex(str(entry["hex"]))
    # 68 79 | 00 0b (length, big-endian) | 01 host | 02 LEVEL | 05 | CRC | 0d 0a
    assert yh.decode_frame(data).message() == _expected(entry)
    assert (
        yh.Setting(1, yh.Command.LEVEL, 5).encode().hex(" ") == "68 79 00 0b 01 02 05 32 21 0d 0a"
    )
    only_big = (yh.CrcRule.SPEC,)
    if entry["crc_rule"] == "le":
        with pytest.raises(FrameError, match="CRC is 21 32"):
            yh.decode_frame(data, only_big)
    assert [f.message() for f in yh.StreamDecoder().feed(b"\x00" + data)] == [_expected(entry)]
    with pytest.raises(FrameError, match="expected 79 68"):
        yh.decode_frame(data, revision=yh.Revision.V0_1_2)


def test_the_crc_is_xmodem_big_endian_over_sync_to_data() -> None:
    frame = yh.Setting(yh.Direction.HOST, yh.Command.LEVEL, 5).encode()
    assert frame[:2] == b"hy" and frame[-2:] == b"\r\n"
    assert int.from_bytes(frame[2:4], "big") == len(frame) == 11
    old = yh.Setting(yh.Direction.HOST, yh.Command.LEVEL, 5).encode(yh.Revision.V0_1_2)
    assert old[:2] == b"yh" and int.from_bytes(old[2:4], "little") == 11
    from massager_protocols.crc import crc16_xmodem

    assert frame[-4:-2] == crc16_xmodem(frame[:-4]).to_bytes(2, "big")
    assert old[-4:-2] == crc16_xmodem(old[:-4]).to_bytes(2, "big")


@pytest.mark.parametrize(
    ("command", "value"),
    [(yh.Command.MODE, 8), (yh.Command.LEVEL, 20), (yh.Command.ZONE, 6), (yh.Command.BUZZER, 2)],
)
def test_values_out_of_range_are_refused_with_the_range(command: yh.Command, value: int) -> None:
    accepted = yh.RANGES[command]
    with pytest.raises(MalformedPayload, match=f"outside 0..{accepted.stop - 1}"):
        yh.Setting(yh.Direction.HOST, command, value).encode()


def test_bad_frames_say_what_is_wrong() -> None:
    good = yh.HeartbeatRequest().encode()
    with pytest.raises(FrameError, match="shorter"):
        yh.decode_frame(good[:5])
    with pytest.raises(FrameError, match="expected 68 79"):
        yh.decode_frame(b"xx" + good[2:])
    with pytest.raises(FrameError, match="length field"):
        yh.decode_frame(good + b"\0")
    with pytest.raises(FrameError, match="0d 0a"):
        yh.decode_frame(good[:-1] + b"\0")
    with pytest.raises(ProtocolError, match="unknown message type 0x09"):
        yh.decode_frame(yh.encode_frame(1, 9, b"\0")).message()


VALID = [m["hex"] for m in VECTORS["messages"]]


def feed_in_chunks(decoder: yh.StreamDecoder, data: bytes, cuts: list[int]) -> list[yh.Frame]:
    frames: list[yh.Frame] = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in itertools.pairwise(points):
        frames += decoder.feed(data[a:b])
    return frames


@settings(max_examples=200)
@given(st.binary(max_size=400), st.lists(st.integers(0, 10_000), max_size=16))
def test_random_bytes_never_raise_and_stay_bounded(data: bytes, cuts: list[int]) -> None:
    decoder = yh.StreamDecoder()
    for frame in feed_in_chunks(decoder, data, cuts):
        with contextlib.suppress(ProtocolError):
            frame.message()
    assert decoder.buffered < yh.MAX_FRAME


@settings(max_examples=200)
@given(
    st.binary(max_size=200),
    st.sampled_from(VALID),
    st.lists(st.integers(0, 10_000), max_size=12),
)
def test_a_valid_frame_after_garbage_is_never_lost(
    garbage: bytes, frame_hex: str, cuts: list[int]
) -> None:
    frame = bytes.fromhex(frame_hex)
    decoder = yh.StreamDecoder()
    frames = feed_in_chunks(decoder, garbage + frame, cuts)
    assert frames and frames[-1] == yh.decode_frame(frame)


@settings(max_examples=100)
@given(st.lists(st.sampled_from(VALID), min_size=1, max_size=8), st.lists(st.integers(0, 999)))
def test_merged_and_split_frames_all_come_out_in_order(frames: list[str], cuts: list[int]) -> None:
    data = b"".join(bytes.fromhex(f) for f in frames)
    decoded = feed_in_chunks(yh.StreamDecoder(), data, cuts)
    assert decoded == [yh.decode_frame(bytes.fromhex(f)) for f in frames]


@settings(max_examples=100)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=yh.MAX_DATA))
def test_any_frame_round_trips(direction: int, command: int, data: bytes) -> None:
    frame = yh.encode_frame(direction, command, data)
    decoded = yh.decode_frame(frame)
    assert (decoded.direction, decoded.command, decoded.data) == (direction, command, data)
    assert yh.FRAME.build({"direction": direction, "command": command, "data": data}) == frame


def test_a_corrupted_byte_is_counted_and_the_next_frame_still_decodes() -> None:
    good = bytes.fromhex(VALID[2])
    bad = bytearray(good)
    bad[6] ^= 0xFF
    decoder = yh.StreamDecoder()
    assert decoder.feed(bytes(bad) + good) == [yh.decode_frame(good)]
    assert decoder.stats.crc_errors == 1


def test_spec_tables_match_the_code() -> None:
    text = spec.PAGE.path.read_text(encoding="utf-8")
    assert spec.PAGE.update(text) == text, "run: python -m massager_protocols.yh.spec --write"


def test_spec_drift_is_detected(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    page = tmp_path / "yh.md"
    text = spec.PAGE.path.read_text(encoding="utf-8")
    page.write_text(text.replace("| `length` | u16 BE |", "| `length` | u8 |", 1), encoding="utf-8")
    assert spec.PAGE.main(["--check", "--spec", str(page)]) == 1
    assert spec.PAGE.main(["--write", "--spec", str(page)]) == 0
    assert page.read_text(encoding="utf-8") == text
