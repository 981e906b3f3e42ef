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
from massager_protocols.nmp.messages import PROTOCOL_VERSION, Message, message_class

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

_HEADER = struct.Struct("<BBBBB")
_CRC = struct.Struct("<H")
_PREFIX = bytes((SOF, PROTOCOL_VERSION))


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


@dataclasses.dataclass(slots=True)
class DecoderStats:
    """What a stream decoder saw: frames, and what it had to throw away."""

    frames: int = 0
    bytes_skipped: int = 0
    crc_errors: int = 0


class StreamDecoder:
    """Turns a byte stream cut anywhere into whole frames.

    Chunks may split frames, merge several, or carry garbage between them. The
    decoder resynchronises on the next start byte after a bad checksum, and a
    valid frame after garbage is never held back: if a candidate frame is still
    incomplete but a complete, valid frame starts later in the buffer, the
    candidate was noise. Memory is bounded by one maximum frame plus a chunk.
    """

    __slots__ = ("_buf", "rejected", "stats")

    def __init__(self) -> None:
        self._buf = bytearray()
        self.stats = DecoderStats()
        #: ``(seq, type)`` of recent frames that failed their CRC, newest last.
        #: A device may answer them with NACK BAD_CRC; bounded, oldest dropped.
        self.rejected: deque[tuple[int, int]] = deque(maxlen=8)

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buf)

    def reset(self) -> None:
        """Drop any partial frame (for example after a reconnect)."""
        self.stats.bytes_skipped += len(self._buf)
        self._buf.clear()

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add bytes; return every frame they complete, in order."""
        buf = self._buf
        buf += data
        out: list[Frame] = []
        stats = self.stats
        pos = 0
        n = len(buf)
        while True:
            start = buf.find(_PREFIX, pos)
            if start < 0:
                # Keep a trailing start byte: its version byte may be on its way.
                keep = 1 if n and buf[-1] == SOF else 0
                stats.bytes_skipped += n - pos - keep
                pos = n - keep
                break
            stats.bytes_skipped += start - pos
            pos = start
            if n - pos < OVERHEAD:
                break
            length = buf[pos + 2]
            end = pos + OVERHEAD + length
            if end > n:
                later = self._complete_frame_after(pos + 1, n)
                if later < 0:
                    break
                stats.bytes_skipped += later - pos
                pos = later
                continue
            crc = buf[end - 2] | (buf[end - 1] << 8)
            if crc != crc16_ccitt_false(memoryview(buf)[pos + 1 : end - 2]):
                stats.crc_errors += 1
                self.rejected.append((buf[pos + 3], buf[pos + 4]))
                stats.bytes_skipped += 1
                pos += 1
                continue
            out.append(Frame(buf[pos + 3], buf[pos + 4], bytes(buf[pos + HEADER_SIZE : end - 2])))
            stats.frames += 1
            pos = end
        if pos:
            del buf[:pos]
        return out

    def _complete_frame_after(self, pos: int, n: int) -> int:
        """Start of the first complete, valid frame at or after ``pos``, or -1."""
        buf = self._buf
        while True:
            start = buf.find(_PREFIX, pos)
            if start < 0 or n - start < OVERHEAD:
                return -1
            end = start + OVERHEAD + buf[start + 2]
            if end <= n:
                crc = buf[end - 2] | (buf[end - 1] << 8)
                if crc == crc16_ccitt_false(memoryview(buf)[start + 1 : end - 2]):
                    return start
            pos = start + 1
