"""The "yh" frame of JL6328-based EMS and heating massagers, and its messages.

Frame (``FRAME``; the spec's table is generated from it), as the newest
revision of the source document (v0.1.3) and the vendor's app have it::

    68 79 | length (u16 BE, whole frame) | direction | command | data | crc16 | 0D 0A

The earlier revision v0.1.2 (:attr:`Revision.V0_1_2`) had ``79 68`` and a
little-endian length (``FRAME_V0_1_2``). The CRC is CRC-16/XMODEM (poly
0x1021, init 0) over the sync .. the last data byte, sent big-endian
(:attr:`CrcRule.SPEC`); since its commit "new-board CRC compatibility" the
app accepts it in either byte order (:attr:`CrcRule.LITTLE_ENDIAN` too), as
decoders of v0.1.3 do. The one frame printed in the document matches
CRC-16/XMODEM over the same bytes followed by two zero bytes, sent
little-endian (:attr:`CrcRule.BLANK_FIELD_LE`), which a decoder can be told to
accept (``protocols/specs/yh.md`` says why).

Every command carries one byte of data except the device's heartbeat, which
reports the whole state (:class:`Status`).
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from collections.abc import Iterable
from typing import ClassVar, Literal

import construct as cs

from massager_protocols.crc import crc16_xmodem
from massager_protocols.errors import FrameError, MalformedPayload, UnknownMessageType
from massager_protocols.streaming import DecoderStats as DecoderStats
from massager_protocols.streaming import SyncStreamDecoder

SYNC = b"\x68\x79"  # "hy": the newest revision and the app
SYNC_V0_1_2 = b"\x79\x68"  # "yh": revision v0.1.2 of the document
TRAILER = b"\r\n"
HEADER_SIZE = 6  # sync, length, direction, command
OVERHEAD = HEADER_SIZE + 2 + len(TRAILER)
#: The largest frame the public documentation allows.
MAX_FRAME = 128
MAX_DATA = MAX_FRAME - OVERHEAD


class Direction(enum.IntEnum):
    """Who sent a frame."""

    HOST = 1  #: app (host) to device ("APP->MCU")
    DEVICE = 2  #: device to app ("MCU->APP")


class Command(enum.IntEnum):
    """The command ("data stream ID") byte."""

    HEARTBEAT = 0x00  #: device: state report (every 5 s and on request); host: request it
    MODE = 0x01  #: program 0..7
    LEVEL = 0x02  #: intensity 0..19 (0: output off)
    ZONE = 0x03  #: body position 0..5 the program is tuned for
    BATTERY = 0x04  #: device: battery level 0..4 (quarters)
    BLUETOOTH = 0x05  #: device: 0 not connected, 1 connected
    CHARGE = 0x06  #: device: 0 not charging, 1..4 charging (level)
    BUZZER = 0x07  #: 0 off, 1 on
    TIMER = 0x08  #: minutes 0..255 until the device switches off (0: its default)


class Mode(enum.IntEnum):
    """The eight programs, named as the public documentation lists them."""

    MASSAGE = 0  #: massage
    KNEAD = 1  #: kneading
    SCRAPING = 2  #: scraping (gua sha)
    PRESSURE = 3  #: pressing
    ACUPOINT = 4  #: acupoint
    CUPPING = 5  #: cupping
    ACTIVATE = 6  #: activating
    SHAPE = 7  #: shaping


#: The accepted range of each one-byte command's value.
RANGES: dict[Command, range] = {
    Command.MODE: range(8),
    Command.LEVEL: range(20),
    Command.ZONE: range(6),
    Command.BATTERY: range(5),
    Command.BLUETOOTH: range(2),
    Command.CHARGE: range(5),
    Command.BUZZER: range(2),
    Command.TIMER: range(256),
}
#: Highest LEVEL value.
MAX_LEVEL = 19


class CrcRule(enum.Enum):
    """How a frame's CRC is computed and placed."""

    SPEC = "spec"  #: XMODEM over sync..data, big-endian (the documented rule)
    LITTLE_ENDIAN = "le"  #: XMODEM over sync..data, little-endian (accepted by the app)
    BLANK_FIELD_LE = "blank-field-le"  #: XMODEM over sync..data + 00 00, little-endian


class Revision(enum.Enum):
    """Which revision of the source document (lan-feng/massager ``doc/prompt_014.md``)
    a device follows: sync bytes, length byte order and the CRC orders accepted."""

    V0_1_2 = "v0.1.2"  #: commit 00dcdda: ``79 68``, little-endian length, CRC big-endian
    #: commit 29c39cb, and the app since 89ca371: ``68 79``, big-endian length, CRC either way
    V0_1_3 = "v0.1.3"

    @property
    def sync(self) -> bytes:
        """The two sync bytes."""
        return SYNC if self is Revision.V0_1_3 else SYNC_V0_1_2

    @property
    def length_order(self) -> Literal["big", "little"]:
        """The length field's byte order."""
        return "big" if self is Revision.V0_1_3 else "little"

    @property
    def crc_rules(self) -> tuple[CrcRule, ...]:
        """The CRC rules a decoder of this revision accepts by default."""
        if self is Revision.V0_1_3:
            return (CrcRule.SPEC, CrcRule.LITTLE_ENDIAN)
        return (CrcRule.SPEC,)


#: The revision used when nothing names one: the newest.
LATEST = Revision.V0_1_3


def frame_crc(body: bytes | bytearray | memoryview, rule: CrcRule = CrcRule.SPEC) -> bytes:
    """The two CRC bytes of a frame whose bytes before the CRC are ``body``."""
    if rule is CrcRule.SPEC:
        return crc16_xmodem(body).to_bytes(2, "big")
    if rule is CrcRule.LITTLE_ENDIAN:
        return crc16_xmodem(body).to_bytes(2, "little")
    return crc16_xmodem(bytes(body) + b"\0\0").to_bytes(2, "little")


def _frame_struct(revision: Revision) -> cs.Struct:
    sync = revision.sync
    big = revision.length_order == "big"
    head = ">HBB" if big else "<HBB"
    return cs.Struct(
        "sync" / cs.Const(sync) * ("'h' 'y'" if sync == SYNC else "'y' 'h'"),
        "length"
        / cs.Rebuild(cs.Int16ub if big else cs.Int16ul, cs.len_(cs.this.data) + OVERHEAD)
        * f"whole frame in bytes, {OVERHEAD}..{MAX_FRAME}, {revision.length_order}-endian",
        "direction" / cs.Int8ul * "1 host to device, 2 device to host",
        "command" / cs.Int8ul * "command (table below)",
        "data" / cs.Bytes(cs.this.length - OVERHEAD) * "the command's data",
        "crc"
        / cs.Checksum(
            cs.Int16ub,
            lambda body: crc16_xmodem(body),
            lambda ctx: (
                sync + struct.pack(head, ctx.length, ctx.direction, ctx.command) + bytes(ctx.data)
            ),
        )
        * "CRC-16/XMODEM over sync..data, sent big-endian",
        "trailer" / cs.Const(TRAILER) * "CR LF",
    )


#: The frame as construct sees it (revision v0.1.3); documents the layout and backs the spec.
FRAME = _frame_struct(Revision.V0_1_3)
#: The frame of revision v0.1.2.
FRAME_V0_1_2 = _frame_struct(Revision.V0_1_2)

#: A one-byte command's data.
VALUE = cs.Struct("value" / cs.Int8ul * "the value (ranges in the command table)")
#: The device's heartbeat data.
STATUS = cs.Struct(
    "running" / cs.Int8ul * "0 stopped, 1 running",
    "battery" / cs.Int8ul * "battery level 0..4 (quarters)",
    "mode" / cs.Int8ul * "program 0..7",
    "level" / cs.Int8ul * "intensity 0..19",
    "zone" / cs.Int8ul * "body position 0..5",
    "minutes" / cs.Int8ul * "minutes left on the timer",
)
_STATUS = struct.Struct("6B")


@dataclasses.dataclass(frozen=True, slots=True)
class Frame:
    """A frame whose length, CRC and trailer were valid; ``data`` is not parsed yet."""

    direction: int
    command: int
    data: bytes

    def message(self) -> Message:
        """The typed message; ``UnknownMessageType`` or ``MalformedPayload`` if none fits."""
        return decode_message(self.direction, self.command, self.data)


@dataclasses.dataclass(frozen=True, slots=True)
class HeartbeatRequest:
    """Host: send a heartbeat (state report) now. Also the host's keepalive."""

    def encode(self, revision: Revision = LATEST) -> bytes:
        """The frame bytes."""
        return encode_frame(Direction.HOST, Command.HEARTBEAT, b"", revision=revision)


@dataclasses.dataclass(frozen=True, slots=True)
class Status:
    """Device: its whole state (the heartbeat, every 5 s and on request)."""

    running: int
    battery: int
    mode: int
    level: int
    zone: int
    minutes: int

    def encode(self, revision: Revision = LATEST) -> bytes:
        """The frame bytes."""
        values = dataclasses.astuple(self)
        if not all(0 <= v <= 0xFF for v in values):
            raise MalformedPayload(f"every heartbeat field is one byte: {self!r}")
        data = _STATUS.pack(*values)
        return encode_frame(Direction.DEVICE, Command.HEARTBEAT, data, revision=revision)


@dataclasses.dataclass(frozen=True, slots=True)
class Setting:
    """A one-byte command: the host sets a value, the device reports the value in force.

    Decoding does not check ``value`` against the command's range (a device must
    see a bad value to refuse it); :attr:`in_range` says whether it fits, and
    encoding refuses a value out of range.
    """

    direction: int
    command: int
    value: int

    @property
    def in_range(self) -> bool:
        """Whether ``value`` is within the command's documented range."""
        accepted = _range(self.command)
        return accepted is not None and self.value in accepted

    def encode(self, revision: Revision = LATEST) -> bytes:
        """The frame bytes; ``MalformedPayload`` when the value is out of range."""
        if self.command not in RANGES:
            raise MalformedPayload(f"command 0x{self.command:02X} takes no one-byte value")
        accepted = RANGES[Command(self.command)]
        if self.value not in accepted:
            raise MalformedPayload(
                f"{Command(self.command).name} value {self.value} is outside "
                f"{accepted.start}..{accepted.stop - 1}"
            )
        return encode_frame(self.direction, self.command, bytes([self.value]), revision=revision)


Message = HeartbeatRequest | Status | Setting


def _range(command: int) -> range | None:
    return RANGES[Command(command)] if command in RANGES else None


def decode_message(direction: int, command: int, data: bytes) -> Message:
    """The typed message of a frame's fields."""
    if direction not in (Direction.HOST, Direction.DEVICE):
        raise MalformedPayload(f"direction {direction} is neither 1 (host) nor 2 (device)")
    if command == Command.HEARTBEAT:
        if direction == Direction.HOST:
            return HeartbeatRequest()
        if len(data) < _STATUS.size:
            raise MalformedPayload(f"a heartbeat carries {_STATUS.size} bytes, got {len(data)}")
        return Status(*_STATUS.unpack_from(data))
    if command in RANGES:
        if len(data) < 1:
            raise MalformedPayload(f"{Command(command).name} carries one byte, got none")
        return Setting(direction, command, data[0])
    raise UnknownMessageType(command)


def encode_frame(
    direction: int,
    command: int,
    data: bytes,
    rule: CrcRule = CrcRule.SPEC,
    *,
    revision: Revision = LATEST,
) -> bytes:
    """Wrap ``data`` in a frame of ``revision``."""
    if not 0 <= direction <= 0xFF or not 0 <= command <= 0xFF:
        raise MalformedPayload(f"direction {direction} and command {command} are one byte each")
    if len(data) > MAX_DATA:
        raise MalformedPayload(f"{len(data)} data bytes exceed the {MAX_DATA} a frame carries")
    length = (len(data) + OVERHEAD).to_bytes(2, revision.length_order)
    body = revision.sync + length + bytes([direction, command]) + data
    return body + frame_crc(body, rule) + TRAILER


def decode_frame(
    data: bytes | bytearray | memoryview,
    rules: Iterable[CrcRule] | None = None,
    *,
    revision: Revision = LATEST,
) -> Frame:
    """Decode exactly one frame of ``revision`` (CRC rules: the revision's unless given).

    Raises ``FrameError`` saying what is wrong.
    """
    data = bytes(data)
    rules = revision.crc_rules if rules is None else tuple(rules)
    sync = revision.sync
    if len(data) < OVERHEAD:
        raise FrameError(f"frame of {len(data)} bytes is shorter than the {OVERHEAD}-byte minimum")
    if not data.startswith(sync):
        raise FrameError(
            f"frame starts with {data[:2].hex(' ')}, expected {sync.hex(' ')} "
            f"(revision {revision.value})"
        )
    length = int.from_bytes(data[2:4], revision.length_order)
    if length != len(data):
        raise FrameError(f"length field says {length} bytes, the frame has {len(data)}")
    if not data.endswith(TRAILER):
        raise FrameError(f"frame ends with {data[-2:].hex(' ')}, expected 0d 0a")
    body = data[: length - 4]
    crc = data[length - 4 : length - 2]
    if not any(frame_crc(body, rule) == crc for rule in rules):
        raise FrameError(
            f"CRC is {crc.hex(' ')}, computed {frame_crc(body).hex(' ')} (CRC-16/XMODEM, "
            f"accepted as {', '.join(r.value for r in rules)})"
        )
    return Frame(data[4], data[5], data[HEADER_SIZE : length - 4])


class StreamDecoder(SyncStreamDecoder[Frame]):
    """Turns a byte stream cut anywhere into whole frames of the newest revision
    (:meth:`for_revision` gives one for another).

    Chunks may split frames, merge several, or carry garbage between them. A
    candidate whose length is impossible, whose trailer is not CR LF or whose
    CRC fails is skipped one byte at a time, so the next sync is found; a
    complete valid frame later in the buffer is never held back by an
    incomplete candidate before it. Memory is bounded by one maximum frame plus
    a chunk.
    """

    SYNC = SYNC
    LENGTH_AT = 4
    MIN_FRAME = OVERHEAD

    REVISION: ClassVar[Revision] = Revision.V0_1_3

    __slots__ = ("_rules",)

    def __init__(self, rules: Iterable[CrcRule] | None = None) -> None:
        super().__init__()
        self._rules = self.REVISION.crc_rules if rules is None else tuple(rules)
        if not self._rules:
            raise ValueError("a decoder needs at least one CRC rule")

    @staticmethod
    def for_revision(
        revision: Revision = LATEST, rules: Iterable[CrcRule] | None = None
    ) -> StreamDecoder:
        """A decoder of ``revision``'s frames (CRC rules: the revision's unless given)."""
        kind = StreamDecoder if revision is Revision.V0_1_3 else _StreamDecoderV012
        return kind(rules)

    def _frame_length(self, pos: int) -> int:
        buf = self._buf
        length = int.from_bytes(buf[pos + 2 : pos + 4], self.REVISION.length_order)
        return length if OVERHEAD <= length <= MAX_FRAME else 0

    def _valid(self, start: int, end: int) -> bool:
        buf = self._buf
        if buf[end - 2 : end] != TRAILER:
            return False
        body = memoryview(buf)[start : end - 4]
        crc = bytes(buf[end - 4 : end - 2])
        return any(frame_crc(body, rule) == crc for rule in self._rules)

    def _frame(self, start: int, end: int) -> Frame:
        buf = self._buf
        return Frame(buf[start + 4], buf[start + 5], bytes(buf[start + HEADER_SIZE : end - 4]))


class _StreamDecoderV012(StreamDecoder):
    """Frames of revision v0.1.2: ``79 68``, little-endian length."""

    SYNC = SYNC_V0_1_2
    REVISION = Revision.V0_1_2
    __slots__ = ()
