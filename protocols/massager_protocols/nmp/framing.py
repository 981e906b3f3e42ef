"""NMP/1 framing: one frame per message, and a streaming decoder.

Frame layout (``FRAME``; the spec's table is generated from it)::

    A5 | version | length | seq | type | payload[length] | crc16 (LE)

The CRC is CRC-16/CCITT-FALSE over ``version .. payload``. Seven bytes of
overhead leave 13 payload bytes in one 20-byte BLE write (ATT MTU 23): every
message sent at a steady rate fits.
"""

from __future__ import annotations

import dataclasses
import struct
from collections import deque

import construct as cs

from massager_protocols.crc import crc16_ccitt_false
from massager_protocols.errors import FrameError, MalformedPayload
from massager_protocols.nmp.messages import (
    MESSAGES,
    PROTOCOL_VERSION,
    Message,
    ZoneLevels,
    message_class,
    unwrap,
)
from massager_protocols.streaming import DecoderStats as DecoderStats
from massager_protocols.streaming import SyncStreamDecoder

SOF = 0xA5
HEADER_SIZE = 5
CRC_SIZE = 2
OVERHEAD = HEADER_SIZE + CRC_SIZE
MAX_PAYLOAD = 255
MAX_FRAME = OVERHEAD + MAX_PAYLOAD
#: The largest payload that fits one BLE write at the default ATT MTU of 23.
SINGLE_WRITE_PAYLOAD = 20 - OVERHEAD

#: The frame as construct sees it; documents the layout and backs the spec.
FRAME = cs.Struct(
    "sof" / cs.Const(b"\xa5") * "start of frame",
    "version"
    / cs.Const(PROTOCOL_VERSION, cs.Int8ul)
    * "protocol version, 1; doubles as a second sync byte",
    "length" / cs.Rebuild(cs.Int8ul, cs.len_(cs.this.payload)) * "payload length, 0..255",
    "seq" / cs.Int8ul * "host: 1..255, wrapping; a reply echoes it; device-initiated frames use 0",
    "type" / cs.Int8ul * "message type (table below)",
    "payload" / cs.Bytes(cs.this.length) * "the message's fields",
    "crc"
    / cs.Checksum(
        cs.Int16ul,
        lambda data: crc16_ccitt_false(data),
        lambda ctx: bytes([ctx.version, ctx.length, ctx.seq, ctx.type]) + ctx.payload,
    )
    * "CRC-16/CCITT-FALSE over version..payload, little-endian",
)


def _payload_bound(message: type[Message]) -> int:
    """The longest payload a receiver accepts for a message (section 2.1).

    A layout of fixed-size fields may grow, in a later revision, up to one BLE
    write; one ending in a byte list up to the list's most (``TAIL_MAX``: a 1.0
    device's level byte for each of eight zones in STATUS, a 32-byte secret in
    PAIR); any other
    variable layout up to the frame's limit.
    """
    fixed = 0
    for sub in message.WIRE.subcons:
        leaf = unwrap(sub)
        byte_run = isinstance(leaf, cs.GreedyRange) and unwrap(leaf.subcon) is cs.Int8ul
        if byte_run or isinstance(leaf, ZoneLevels):
            if message.TAIL_MAX is None:
                return MAX_PAYLOAD
            return max(fixed + message.TAIL_MAX, SINGLE_WRITE_PAYLOAD)
        try:
            fixed += leaf.sizeof()
        except cs.SizeofError:
            return MAX_PAYLOAD
    return max(fixed, SINGLE_WRITE_PAYLOAD)


#: The longest payload a receiver waits for, by message type: a header that
#: claims more is noise (section 2.1). Generated into the spec and the C code.
PAYLOAD_BOUNDS: dict[int, int] = {t: _payload_bound(c) for t, c in sorted(MESSAGES.items())}
#: The bound for a type this revision does not define: one BLE write, so a newer
#: host's short command still arrives and is NACKed UNKNOWN_TYPE.
UNKNOWN_TYPE_BOUND = SINGLE_WRITE_PAYLOAD
_BOUND_BY_TYPE = bytes(PAYLOAD_BOUNDS.get(t, UNKNOWN_TYPE_BOUND) for t in range(256))


def payload_bound(msg_type: int) -> int:
    """The longest payload a receiver accepts in a frame of ``msg_type``."""
    return _BOUND_BY_TYPE[msg_type]


_HEADER = struct.Struct("<BBBBB")
_CRC = struct.Struct("<H")
_PREFIX = bytes((SOF, PROTOCOL_VERSION))


#: Seconds of silence after which a receiver abandons an incomplete candidate
#: (section 2.1, rule 6). Longer than the gaps inside one frame on any link
#: (BLE connection intervals are 7.5-50 ms), shorter than a host's retry timer.
STALE_CANDIDATE_S = 0.2


@dataclasses.dataclass(frozen=True, slots=True)
class Frame:
    """A frame whose checksum was valid. ``payload`` is not parsed yet."""

    seq: int
    msg_type: int
    payload: bytes

    def message(self) -> Message:
        """Parse the payload. Raises ``UnknownMessageType`` or ``MalformedPayload``."""
        return message_class(self.msg_type).decode_payload(self.payload)


def encode_frame(seq: int, msg_type: int, payload: bytes) -> bytes:
    """Wrap a payload in a frame."""
    if not 0 <= seq <= 0xFF or not 0 <= msg_type <= 0xFF:
        raise MalformedPayload(f"seq {seq} and type {msg_type} must each be 0..255")
    if len(payload) > MAX_PAYLOAD:
        raise MalformedPayload(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = _HEADER.pack(SOF, PROTOCOL_VERSION, len(payload), seq, msg_type)[1:] + payload
    return b"\xa5" + body + _CRC.pack(crc16_ccitt_false(body))


def encode(message: Message, seq: int = 0) -> bytes:
    """Encode a message in a frame with sequence number ``seq``."""
    return encode_frame(seq, message.TYPE, message.encode_payload())


def decode_frame(data: bytes | bytearray | memoryview) -> Frame:
    """Decode exactly one frame. Raises ``FrameError`` saying what is wrong."""
    data = bytes(data)
    if len(data) < OVERHEAD:
        raise FrameError(f"frame of {len(data)} bytes is shorter than the {OVERHEAD}-byte minimum")
    sof, version, length, seq, msg_type = _HEADER.unpack_from(data)
    if sof != SOF:
        raise FrameError(f"frame starts with 0x{sof:02X}, expected start byte 0xA5")
    if version != PROTOCOL_VERSION:
        raise FrameError(f"protocol version {version}, this decoder speaks {PROTOCOL_VERSION}")
    if len(data) != OVERHEAD + length:
        raise FrameError(
            f"length byte says {length} payload bytes, so {OVERHEAD + length} in all; "
            f"got {len(data)}"
        )
    (crc,) = _CRC.unpack_from(data, HEADER_SIZE + length)
    expected = crc16_ccitt_false(data[1 : HEADER_SIZE + length])
    if crc != expected:
        raise FrameError(f"CRC is 0x{crc:04X}, computed 0x{expected:04X}")
    return Frame(seq, msg_type, data[HEADER_SIZE : HEADER_SIZE + length])


class StreamDecoder(SyncStreamDecoder[Frame]):
    """Turns a byte stream cut anywhere into whole NMP/1 frames.

    Chunks may split frames, merge several, or carry garbage between them. As
    section 2.1 of the spec says, a candidate starts with ``A5 01``; a header
    whose length exceeds its type's bound is noise, and one byte is discarded.
    A plausible candidate is waited for until its length is buffered, and its
    CRC decides: valid, it is a frame and nothing inside it is looked at;
    invalid, one byte is discarded and the search resumes inside it. So a
    frame embedded in a longer frame's payload is never taken for a frame of
    its own, and the frames out depend
    on the bytes alone, not on how they were cut: a receiver fed one byte at a
    time yields the same frames. Memory is bounded by one maximum frame plus a
    chunk. Given each chunk's time (``feed(data, now)``), a candidate still
    incomplete after :data:`STALE_CANDIDATE_S` of silence is abandoned (rule 6),
    so a corrupted length byte does not hold the link.
    """

    SYNC = _PREFIX
    LENGTH_AT = HEADER_SIZE
    MIN_FRAME = OVERHEAD
    TRUST_HEADER = True
    STALE_AFTER = STALE_CANDIDATE_S

    __slots__ = ("rejected",)

    def __init__(self) -> None:
        super().__init__()
        #: ``(seq, type)`` of recent frames that failed their CRC, newest last.
        #: A device may answer them with NACK BAD_CRC; bounded, oldest dropped.
        self.rejected: deque[tuple[int, int]] = deque(maxlen=8)

    def _frame_length(self, pos: int) -> int:
        length = self._buf[pos + 2]
        return OVERHEAD + length if length <= _BOUND_BY_TYPE[self._buf[pos + 4]] else 0

    def _valid(self, start: int, end: int) -> bool:
        buf = self._buf
        crc = buf[end - 2] | (buf[end - 1] << 8)
        return crc == crc16_ccitt_false(memoryview(buf)[start + 1 : end - 2])

    def _frame(self, start: int, end: int) -> Frame:
        buf = self._buf
        return Frame(buf[start + 3], buf[start + 4], bytes(buf[start + HEADER_SIZE : end - 2]))

    def _rejected(self, start: int) -> None:
        self.rejected.append((self._buf[start + 3], self._buf[start + 4]))
