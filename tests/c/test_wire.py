"""The C wire layer (protocols/c) against the golden vectors and the Python decoder.

The library is built with the system C compiler under the strict warning flags
and loaded through ctypes; without a compiler these tests skip, saying so.
"""

from __future__ import annotations

import ctypes
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from massager_protocols.crc import crc16_ccitt_false
from massager_protocols.errors import MalformedPayload, UnknownMessageType
from massager_protocols.nmp import (
    MAX_FRAME,
    MESSAGES,
    Ack,
    Event,
    Frame,
    GetInfo,
    GetStatus,
    Info,
    Keepalive,
    Message,
    Nack,
    PatternStep,
    SetAutoOff,
    SetHeat,
    SetOutput,
    Status,
    StopAll,
    StreamDecoder,
    UploadPattern,
    ZoneInfo,
    cgen,
    encode,
)
from massager_protocols.nmp.framing import STALE_CANDIDATE_S, payload_bound
from massager_protocols.vectors import __file__ as vectors_init

from tests.c.cbuild import C_DIR, EXAMPLES, HARNESS, STRICT, compiler, run
from tests.c.nmp1c import CReceiver, roundtrip, setup
from tests.protocols.embedded import embedded_upload

VECTOR_FILE = Path(vectors_init).parent / "nmp1.json"
VECTORS = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))
#: Error codes of nmp1.h.
ERR_SHORT, ERR_CAPACITY, ERR_RANGE, ERR_UNKNOWN_TYPE = -1, -2, -3, -4


def _hex_strings(node: Any) -> list[str]:
    """Every ``*hex`` string in the vector file: messages, exchanges, and any traces."""
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            if key.endswith("hex") and isinstance(value, str):
                found.append(value)
            else:
                found += _hex_strings(value)
        return found
    if isinstance(node, list):
        return [h for item in node for h in _hex_strings(item)]
    return []


ALL_HEX = _hex_strings(VECTORS)


@pytest.mark.parametrize("optimise", ["-O0", "-O2", "-Os"])
@pytest.mark.parametrize("json_support", [False, True])
def test_the_sources_compile_clean_under_the_strict_flags(
    tmp_path: Path, optimise: str, json_support: bool
) -> None:
    cc = compiler()
    extra = ["-DNMP1_WITH_JSON"] if json_support else []
    for source in HARNESS:  # the library, the device skeleton and its POSIX harness
        run([cc, *STRICT, optimise, *extra, f"-I{C_DIR}", f"-I{EXAMPLES}", "-c", source,
             "-o", tmp_path / "x.o"])  # fmt: skip


def test_crc_check_value(nmp1_lib: ctypes.CDLL) -> None:
    setup(nmp1_lib)
    assert nmp1_lib.nmp1_crc16(b"123456789", 9) == 0x29B1


@given(st.binary(max_size=300))
def test_crc_matches_python(nmp1_lib: ctypes.CDLL, data: bytes) -> None:
    assert nmp1_lib.nmp1_crc16(data, len(data)) == crc16_ccitt_false(data)


@pytest.mark.parametrize("vector", VECTORS["messages"], ids=lambda v: v["name"])
def test_every_golden_message_parses_to_its_fields_and_builds_to_its_bytes(
    nmp1_lib: ctypes.CDLL, vector: dict[str, Any]
) -> None:
    data = bytes.fromhex(vector["hex"])
    frames = CReceiver(nmp1_lib).push(data)
    assert len(frames) == 1
    frame = frames[0]
    msg_type = MESSAGES[frame.msg_type].TYPE
    assert (frame.seq, msg_type.name) == (vector["seq"], vector["message"])
    result, fields, again = roundtrip(nmp1_lib, frame.msg_type, frame.payload)
    assert result == 0
    assert fields == vector["fields"]
    assert again == frame.payload
    out = ctypes.create_string_buffer(MAX_FRAME)
    size = nmp1_lib.support_reframe(
        frame.seq, frame.msg_type, frame.payload, len(frame.payload), out, len(out)
    )
    assert out.raw[:size] == data


@pytest.mark.parametrize("vector", VECTORS["receive_only"], ids=lambda v: v["name"])
def test_c_reads_appended_fields_and_1_0_status_as_python_does(
    nmp1_lib: ctypes.CDLL, vector: dict[str, Any]
) -> None:
    (frame,) = CReceiver(nmp1_lib).push(bytes.fromhex(vector["hex"]))
    result, fields, again = roundtrip(nmp1_lib, frame.msg_type, frame.payload)
    assert (result, fields) == (0, vector["fields"])
    # built again in 1.1's layout, without the bytes it skipped (a 1.0 auto-off
    # above 4095 s has no 1.1 form: both refuse it)
    try:
        assert again == MESSAGES[frame.msg_type].from_fields(fields).encode_payload()
    except MalformedPayload:
        assert again == ERR_RANGE


@given(
    st.integers(0, 15).flatmap(
        lambda n: st.tuples(st.just(n), st.binary(min_size=9, max_size=9 + (n + 1) // 2 + 3))
    )
)
def test_c_refuses_a_status_as_python_does(nmp1_lib: ctypes.CDLL, case: tuple[int, bytes]) -> None:
    # a 1.1 STATUS claiming `n` zones (more than 8 is malformed), of any length
    count, raw = case
    payload = raw[:3] + bytes([raw[3] | 0x80]) + raw[4:8] + bytes([raw[8] & 0x0F | count << 4])
    payload += raw[9:]
    result, fields, _ = roundtrip(nmp1_lib, Status.TYPE, payload)
    try:
        message = Status.decode_payload(payload)
    except MalformedPayload:
        assert result != 0
    else:
        assert (result, fields) == (0, message.fields())


@pytest.mark.parametrize("hex_text", ALL_HEX)
def test_every_frame_in_the_vector_file_decodes_as_python_decodes_it(
    nmp1_lib: ctypes.CDLL, hex_text: str
) -> None:
    data = bytes.fromhex(hex_text)
    frames = CReceiver(nmp1_lib).push(data)
    assert frames == StreamDecoder().feed(data)
    for frame in frames:
        result, fields, _ = roundtrip(nmp1_lib, frame.msg_type, frame.payload)
        try:
            message = frame.message()
        except UnknownMessageType:
            assert result == ERR_UNKNOWN_TYPE
        except MalformedPayload:
            assert result == ERR_SHORT
        else:
            assert (result, fields) == (0, message.fields())


@pytest.mark.parametrize("cls", [c for c in MESSAGES.values() if c.WIRE.subcons])
def test_a_payload_shorter_than_its_layout_is_err_short(
    nmp1_lib: ctypes.CDLL, cls: type[Message]
) -> None:
    payload = next(
        bytes.fromhex(v["hex"])[5:-2]
        for v in VECTORS["messages"]
        if MESSAGES_BY_NAME[v["message"]] == cls.TYPE
    )
    # A layout ending in a run of bytes (STATUS, PAIR, SESSION) is whole after its fixed part.
    record = dict(cgen.message_records())[cls]
    whole_from = record.min_size if isinstance(record.fields[-1], cgen.Rest) else len(payload)
    for cut in range(len(payload)):
        result, fields, _ = roundtrip(nmp1_lib, cls.TYPE, payload[:cut])
        if cut < whole_from:
            assert result == ERR_SHORT, cut
        else:
            assert (result, fields) == (0, cls.decode_payload(payload[:cut]).fields())


MESSAGES_BY_NAME = {cls.TYPE.name: int(cls.TYPE) for cls in MESSAGES.values()}


def test_the_payload_bounds_are_the_python_ones(nmp1_lib: ctypes.CDLL) -> None:
    nmp1_lib.nmp1_payload_bound.argtypes = [ctypes.c_uint8]
    nmp1_lib.nmp1_payload_bound.restype = ctypes.c_uint8
    assert [nmp1_lib.nmp1_payload_bound(t) for t in range(256)] == [
        payload_bound(t) for t in range(256)
    ]


def test_an_unknown_type_is_reported(nmp1_lib: ctypes.CDLL) -> None:
    assert roundtrip(nmp1_lib, 0x7E, b"")[0] == ERR_UNKNOWN_TYPE


def test_a_string_longer_than_the_struct_holds_is_err_capacity(nmp1_lib: ctypes.CDLL) -> None:
    info = Info(1, 1, 0, 0, 0, 10, 3000, 900, 1200, 0, 0, 0, 0, 0, "m" * 33, "s", (), ())
    assert roundtrip(nmp1_lib, info.TYPE, info.encode_payload())[0] == ERR_CAPACITY


def test_the_embedded_keepalive_is_not_taken_from_the_upload(nmp1_lib: ctypes.CDLL) -> None:
    case = embedded_upload()
    receiver = CReceiver(nmp1_lib)
    assert receiver.push(case.frame) == StreamDecoder().feed(case.frame)
    assert receiver.stats.frames == 1
    broken = bytearray(case.frame)
    broken[-2] ^= 0x01
    fresh = CReceiver(nmp1_lib)
    assert [f.msg_type for f in fresh.push(bytes(broken))] == [Keepalive.TYPE]


# -- the differential test ---------------------------------------------------------

_U8 = st.integers(0, 0xFF)
_U16 = st.integers(0, 0xFFFF)
_NAME = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"), max_size=8
).filter(lambda s: len(s.encode()) <= 32)
MESSAGE = st.one_of(
    st.just(GetInfo()),
    st.just(GetStatus()),
    st.just(StopAll()),
    st.just(Keepalive()),
    st.builds(SetOutput, _U8, _U8, _U8, _U8, _U16),
    st.builds(SetHeat, _U16),
    st.builds(SetAutoOff, _U16),
    st.builds(
        UploadPattern,
        _U8,
        st.lists(st.builds(PatternStep, _U8, _U16), max_size=84).map(tuple),
    ),
    st.builds(Ack, _U8),
    st.builds(Nack, _U8, _U8),
    st.builds(
        Info,
        *([_U8] * 4),
        _U16,
        _U8,
        *([_U16] * 5),
        *([_U8] * 3),
        _NAME,
        _NAME,
        st.lists(_U16, max_size=8).map(tuple),
        st.lists(st.builds(ZoneInfo, _U8, _NAME), max_size=8).map(tuple),
    ),
    st.builds(
        Status,
        _U8,
        _U16,
        st.integers(0, 0x7F),  # bit 7 marks the layout
        st.integers(0, 0xFFFFFF),
        st.integers(0, 0xFFF),  # bits 12-15 carry the zone count
        st.lists(st.integers(0, 15), max_size=8).map(tuple),
    ),
    st.builds(Event, _U8, _U8, st.integers(-0x8000, 0x7FFF)),
)


@settings(max_examples=300)
@given(MESSAGE)
def test_c_parses_and_builds_every_message_as_python_does(
    nmp1_lib: ctypes.CDLL, message: Message
) -> None:
    payload = message.encode_payload()
    result, fields, again = roundtrip(nmp1_lib, message.TYPE, payload)
    assert result == 0
    assert fields == message.fields()
    assert again == payload


FRAMED = st.builds(lambda m, seq: encode(m, seq), MESSAGE, _U8)
PIECE = st.one_of(
    FRAMED,
    FRAMED.map(lambda f: f[: len(f) // 2]),  # a truncated frame
    FRAMED.map(lambda f: f[:-1] + bytes([f[-1] ^ 0x40])),  # a bad CRC
    st.binary(max_size=30),  # noise
    st.sampled_from([b"\xa5", b"\xa5\x01", b"\xa5\x01\x03", b"\xa5\xa5\x01"]),
    # headers: beyond a KEEPALIVE's bound; a long UPLOAD_PATTERN; an unknown type
    st.sampled_from([b"\xa5\x01\x0e\x01\x06", b"\xa5\x01\xf0\x01\x08", b"\xa5\x01\x05\x01\x7e"]),
    st.just(embedded_upload().frame),
    st.just(embedded_upload().keepalive_frame),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(PIECE, max_size=10),
    st.lists(st.integers(0, 100_000), max_size=16),
    st.booleans(),
)
def test_the_c_receiver_byte_by_byte_yields_what_the_python_decoder_yields(
    nmp1_lib: ctypes.CDLL, pieces: list[bytes], cuts: list[int], complete: bool
) -> None:
    # `complete` appends bytes that finish any false candidate, so every byte is decided.
    data = b"".join(pieces) + (bytes(MAX_FRAME) if complete else b"")
    python = StreamDecoder()
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    expected: list[Frame] = []
    for a, b in itertools.pairwise(points):
        expected += python.feed(data[a:b])
    c_bytewise = CReceiver(nmp1_lib)
    assert c_bytewise.push(data) == expected
    assert (c_bytewise.stats, c_bytewise.buffered) == (python.stats, python.buffered)
    c_chunked = CReceiver(nmp1_lib)
    got: list[Frame] = []
    for a, b in itertools.pairwise(points):
        got += c_chunked.feed(data[a:b])
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(PIECE, st.none()), max_size=12))
def test_silence_abandons_the_same_candidates_in_c_as_in_python(
    nmp1_lib: ctypes.CDLL, pieces: list[bytes | None]
) -> None:
    # None: the link falls silent for longer than the stale-candidate time (rule 6).
    python = StreamDecoder()
    c = CReceiver(nmp1_lib)
    now = 0.0
    expected: list[Frame] = []
    got: list[Frame] = []
    for piece in pieces:
        if piece is None:
            now += STALE_CANDIDATE_S + 0.05
            expected += python.feed(b"", now)
            got += c.expire() if c.buffered else []
        else:
            expected += python.feed(piece, now)
            got += c.push(piece)
    assert got == expected
    assert (c.stats, c.buffered) == (python.stats, python.buffered)
