"""Every NMP/1 message builds and parses back to itself."""

from __future__ import annotations

import pytest
from massager_protocols import FrameError, MalformedPayload, UnknownMessageType
from massager_protocols.nmp import (
    MESSAGES,
    SINGLE_WRITE_PAYLOAD,
    Ack,
    EnterTestMode,
    Event,
    EventCode,
    EventState,
    ExitTestMode,
    Fault,
    Frame,
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
    SetAutoOff,
    SetHeat,
    SetOutput,
    Status,
    StopAll,
    StreamDecoder,
    TestFault,
    TestInject,
    UploadPattern,
    Waveform,
    ZoneInfo,
    decode_frame,
    describe,
    encode,
)

EXAMPLES: list[Message] = [
    GetInfo(),
    GetStatus(),
    SetOutput(0b0011, 5, Waveform.WAVE, 0, 2000),
    SetHeat(400),
    StopAll(),
    Keepalive(),
    SetAutoOff(900),
    UploadPattern(2, (PatternStep(100, 120), PatternStep(0, 80), PatternStep(60, 200))),
    Ack(0x03),
    Nack(0x04, NackCode.HEAT_LOCKED),
    Info(
        1,
        1,
        2,
        3,
        0x3F,
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
        "SIM-0001",
        (380, 400, 420),
        (ZoneInfo(1, "left neck"), ZoneInfo(2, "right neck"), ZoneInfo(3, "left shoulder")),
    ),
    Status.make(
        battery_pct=76,
        charging=True,
        battery_mv=3880,
        heat_target_dc=420,
        temperature_dc=395,
        auto_off_s=600,
        intensities=(3, 3, 0, 5),
    ),
    Event(EventCode.OVERHEAT, EventState.RAISED, 452),
    GetSession(),
    Pair(tuple(range(32))),
    Session(3, 0xDEADBEEF, (1, 2, 3, 4, 5, 6, 7, 8)),
    EnterTestMode.for_serial("SIM-0001"),
    ExitTestMode(),
    TestInject(TestFault.SENSOR_STUCK, -32768),
]


def test_every_message_type_has_an_example() -> None:
    assert {type(m) for m in EXAMPLES} == set(MESSAGES.values())


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(message: Message) -> None:
    frame = encode(message, seq=42)
    decoded = decode_frame(frame)
    assert decoded.seq == 42
    assert decoded.msg_type == message.TYPE
    assert decoded.message() == message


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_fast_path_agrees_with_construct(message: Message) -> None:
    payload = message.encode_payload()
    view = message._COMPILED.parse(payload)
    if isinstance(message, Status):  # construct sees the shared bits, the fields the values
        view.faults &= 0x7F
        view.auto_off_s &= 0xFFF
    else:
        assert bytes(message._COMPILED.build(message._to_container())) == payload
    assert type(message)._from_container(view) == message
    assert type(message).decode_payload(payload) == message


@pytest.mark.parametrize(
    "message",
    [
        SetOutput(0xFF, 255, 3, 7, 65535),
        SetHeat(450),
        Keepalive(),
        StopAll(),
        GetStatus(),
        Ack(3),
        Nack(3, 4),
        Event(1, 1, -5),
        Status.make(
            battery_pct=1,
            battery_mv=3000,
            heat_target_dc=450,
            temperature_dc=-100,
            auto_off_s=1200,
            intensities=(9, 9, 9, 9),
        ),
    ],
    ids=lambda m: type(m).__name__,
)
def test_steady_rate_messages_fit_one_ble_write(message: Message) -> None:
    assert len(message.encode_payload()) <= SINGLE_WRITE_PAYLOAD
    assert len(encode(message, 255)) <= 20


def test_status_packed_fields() -> None:
    status = Status.make(battery_pct=None, heat_target_dc=0, temperature_dc=None)
    assert status.battery_pct is None and status.temperature_dc is None
    status = Status.make(battery_pct=9, charging=True, heat_target_dc=4095, temperature_dc=-2047)
    assert (status.battery_pct, status.charging) == (9, True)
    assert (status.heat_target_dc, status.temperature_dc) == (4095, -2047)


def test_trailing_payload_bytes_are_ignored_for_forward_compatibility() -> None:
    assert SetHeat.decode_payload(b"\x90\x01\xee\xee") == SetHeat(400)


def test_short_payload_is_a_clear_error() -> None:
    with pytest.raises(MalformedPayload, match="SET_OUTPUT payload is 2 bytes, needs at least 6"):
        SetOutput.decode_payload(b"\x01\x02")


def test_out_of_range_field_is_a_clear_error() -> None:
    with pytest.raises(MalformedPayload, match="cannot build SET_HEAT"):
        SetHeat(70000).encode_payload()


def test_unknown_type_is_a_protocol_error_not_a_crash() -> None:
    with pytest.raises(UnknownMessageType, match="0x7E"):
        Frame(1, 0x7E, b"").message()


def test_decode_frame_says_what_is_wrong() -> None:
    good = encode(SetHeat(400), 1)
    with pytest.raises(FrameError, match="CRC"):
        decode_frame(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(FrameError, match="shorter"):
        decode_frame(good[:3])
    with pytest.raises(FrameError, match="length byte"):
        decode_frame(good + b"\x00")
    with pytest.raises(FrameError, match="start byte"):
        decode_frame(b"\x00" + good[1:])


def test_stream_decoder_split_merge_and_garbage() -> None:
    frames = [encode(m, i + 1) for i, m in enumerate(EXAMPLES)]
    # A truncated frame (A5 01 and a length of 12; the next frame's A5 01 reads as
    # its seq and a GET_INFO type) holds back the frames after it until 19 bytes
    # have arrived and its CRC failed; then they come out in order.
    stream = b"\x00garbage\xa5" + b"".join(frames[:5]) + b"\xa5\x01\x0c" + b"".join(frames[5:])
    decoder = StreamDecoder()
    got: list[Frame] = []
    for i in range(0, len(stream), 7):
        got += decoder.feed(stream[i : i + 7])
    assert [f.message() for f in got] == EXAMPLES
    assert decoder.stats.frames == len(EXAMPLES)
    assert decoder.stats.bytes_skipped == len(b"\x00garbage\xa5") + 3
    assert decoder.stats.crc_errors == 1
    assert decoder.buffered == 0


def test_a_frame_ending_in_the_start_byte_is_consumed_whole() -> None:
    # A CRC whose last byte is 0xA5 must not be kept back as a possible next frame.
    frame = next(f for t in range(4096) if (f := encode(SetHeat(t), 1))[-1] == 0xA5)
    decoder = StreamDecoder()
    assert len(decoder.feed(frame)) == 1
    assert decoder.buffered == 0
    assert decoder.stats.bytes_skipped == 0
    assert decoder.feed(frame) and decoder.stats.bytes_skipped == 0


def test_a_header_claiming_more_than_its_type_allows_is_noise() -> None:
    # A5 01, a length of 40, then a KEEPALIVE: read as a header, that is a
    # GET_INFO of 40 bytes, beyond its bound of 13. It holds nothing back.
    keepalive = encode(Keepalive(), 3)
    decoder = StreamDecoder()
    assert decoder.feed(b"\xa5\x01\x28" + keepalive) == [decode_frame(keepalive)]
    assert decoder.stats.crc_errors == 0
    assert decoder.stats.bytes_skipped == 3


def test_status_zone_count_and_levels_are_checked() -> None:
    good = Status.make(battery_pct=None, intensities=(1, 2, 3)).encode_payload()
    assert Status.decode_payload(good).intensities == (1, 2, 3)
    with pytest.raises(MalformedPayload, match="needs at least 11"):
        Status.decode_payload(good[:10])  # three zones need two level bytes
    nine = good[:8] + bytes([good[8] & 0x0F | 0x90]) + good[9:]
    with pytest.raises(MalformedPayload, match="zone count is 9"):
        Status.decode_payload(nine)
    with pytest.raises(MalformedPayload, match=r"0\.\.15"):
        Status.make(battery_pct=None, intensities=(16,)).encode_payload()
    with pytest.raises(MalformedPayload, match="at most 8"):
        Status.make(battery_pct=None, intensities=(1,) * 9).encode_payload()
    with pytest.raises(MalformedPayload, match=r"0\.\.4095"):
        Status(0x7F, 0, 0, 0, 4096, ()).encode_payload()
    assert Status.make(battery_pct=None, auto_off_s=70000).auto_off_s == 4095


def test_a_1_0_status_reads_as_1_0_sent_it() -> None:
    status = Status(62, 3850, int(Fault.LOW_BATTERY), 0, 5000, (9, 0, 20, 1, 1, 1, 1, 1))
    assert Status.decode_payload(status.encode_payload_1_0()) == status


def test_a_test_injection_is_described_by_its_fault_name() -> None:
    low = TestInject(TestFault.BATTERY_LEVEL, 7)
    assert describe(low) == {"fault": "BATTERY_LEVEL", "value": 7}
    assert describe(TestInject(0x7F)) == {"fault": "0x7F", "value": 0}


def test_the_test_mode_entry_carries_the_magic_and_the_serial_crc() -> None:
    # "TEST" on the wire, then CRC-16/CCITT-FALSE of the serial, both little-endian.
    payload = EnterTestMode.for_serial("123456789").encode_payload()
    assert payload == b"TEST" + (0x29B1).to_bytes(2, "little")
