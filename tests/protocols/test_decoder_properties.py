"""Property tests: the streaming decoder against random bytes, cuts and bit flips."""

from __future__ import annotations

import contextlib
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from massager_protocols import ProtocolError
from massager_protocols.nmp import (
    MAX_FRAME,
    MESSAGES,
    Frame,
    Keepalive,
    SetHeat,
    SetOutput,
    Status,
    StreamDecoder,
    decode_frame,
    encode,
    encode_frame,
)

VALID = [
    encode(SetOutput(3, 4, 2, 0, 1500), 9),
    encode(SetHeat(400), 10),
    encode(Keepalive(), 11),
    encode(Status.make(battery_pct=50, intensities=(1, 2)), 0),
]


#: Bytes without a start byte, enough to complete any false candidate.
FILLER = bytes(MAX_FRAME)


def feed_in_chunks(decoder: StreamDecoder, data: bytes, cuts: list[int]) -> list[Frame]:
    frames: list[Frame] = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in itertools.pairwise(points):
        frames += decoder.feed(data[a:b])
    return frames


@settings(max_examples=300)
@given(st.binary(max_size=600), st.lists(st.integers(0, 10_000), max_size=20))
def test_random_bytes_never_raise_and_stay_bounded(data: bytes, cuts: list[int]) -> None:
    decoder = StreamDecoder()
    for frame in feed_in_chunks(decoder, data, cuts):
        with contextlib.suppress(ProtocolError):
            frame.message()
    # Whatever is held back is the start of one frame at most.
    assert decoder.buffered < MAX_FRAME


@settings(max_examples=300)
@given(
    st.binary(max_size=300),
    st.sampled_from(VALID),
    st.lists(st.integers(0, 10_000), max_size=12),
)
def test_valid_frame_after_garbage_is_never_lost(
    garbage: bytes, frame: bytes, cuts: list[int]
) -> None:
    # Garbage may end in a false candidate (A5 01 and a length): the frame after
    # it comes out once the candidate's length has arrived and its CRC failed.
    decoder = StreamDecoder()
    frames = feed_in_chunks(decoder, garbage + frame + FILLER, cuts)
    assert frames, "the valid frame after the garbage was not decoded"
    assert frames[-1] == decode_frame(frame)


@settings(max_examples=300)
@given(st.sampled_from(VALID), st.data())
def test_truncated_frames_raise_only_protocol_errors(frame: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(frame) - 1))
    try:
        decode_frame(frame[:cut])
    except ProtocolError as exc:
        assert str(exc)
    else:
        raise AssertionError("a truncated frame decoded")


@settings(max_examples=300)
@given(st.sampled_from(VALID), st.data())
def test_bit_flips_are_caught_and_the_next_frame_survives(
    frame: bytes, data: st.DataObject
) -> None:
    bit = data.draw(st.integers(0, len(frame) * 8 - 1))
    corrupted = bytearray(frame)
    corrupted[bit // 8] ^= 1 << (bit % 8)
    decoder = StreamDecoder()
    # A flip in the length byte makes a longer candidate: the filler completes it.
    frames = decoder.feed(bytes(corrupted) + VALID[2] + FILLER)
    # CRC-16 detects every single-bit error: only the intact keepalive comes out.
    assert frames == [decode_frame(VALID[2])]


@settings(max_examples=200)
@given(st.integers(0, 255), st.sampled_from(sorted(MESSAGES)), st.binary(max_size=40))
def test_any_payload_parses_or_raises_protocol_error(
    seq: int, msg_type: int, payload: bytes
) -> None:
    frame = decode_frame(encode_frame(seq, msg_type, payload))
    try:
        message = frame.message()
    except ProtocolError:
        return
    # Whatever parsed builds back to a prefix-compatible payload (a 1.0 device's
    # STATUS, faults bit 7 clear, in its own layout).
    if isinstance(message, Status) and not frame.payload[3] & 0x80:
        rebuilt = message.encode_payload_1_0()
    else:
        rebuilt = message.encode_payload()
    assert type(message).decode_payload(rebuilt) == message


@given(
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 3),
    st.integers(0, 255),
    st.integers(0, 0xFFFF),
    st.integers(0, 255),
)
def test_set_output_round_trip(
    mask: int, level: int, waveform: int, pattern: int, period: int, seq: int
) -> None:
    message = SetOutput(mask, level, waveform, pattern, period)
    frame = decode_frame(encode(message, seq))
    assert (frame.seq, frame.message()) == (seq, message)
