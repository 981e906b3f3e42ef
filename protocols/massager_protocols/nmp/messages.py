"""NMP/1 messages: the payload layouts (construct) and their typed Python form.

Each message class mirrors its construct layout field for field, so the byte
tables in ``protocols/specs/nmp1.md`` are generated from the same definitions
that parse and build the bytes. Where a field packs several values (STATUS'
``power`` and ``heat``), the class offers named properties and a ``make``
factory; the wire form stays exactly what a firmware engineer sees.

All multi-byte integers are little-endian (the byte order of the Cortex-M and
ESP32 parts these devices are built on).
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

import construct as cs

from massager_protocols.crc import crc16_ccitt_false
from massager_protocols.errors import MalformedPayload, UnknownMessageType

PROTOCOL_VERSION = 1

# --------------------------------------------------------------------------
# Codes and flags
# --------------------------------------------------------------------------


class MsgType(enum.IntEnum):
    """Message type byte. Host-to-device types are below 0x80, replies above."""

    GET_INFO = 0x01
    GET_STATUS = 0x02
    SET_OUTPUT = 0x03
    SET_HEAT = 0x04
    STOP_ALL = 0x05
    KEEPALIVE = 0x06
    SET_AUTO_OFF = 0x07
    UPLOAD_PATTERN = 0x08
    GET_SESSION = 0x10
    PAIR = 0x11
    ENTER_TEST_MODE = 0x12  #: test mode (spec section 12); only devices built for test know it
    EXIT_TEST_MODE = 0x13  #: test mode (spec section 12)
    TEST_INJECT = 0x14  #: test mode (spec section 12)
    ACK = 0x80
    NACK = 0x81
    INFO = 0x82
    STATUS = 0x83
    EVENT = 0x84
    SESSION = 0x90


class NackCode(enum.IntEnum):
    """Why a device refused a command. A NACKed command changes nothing."""

    BAD_CRC = 1
    UNKNOWN_TYPE = 2
    OUT_OF_RANGE = 3
    BUSY = 4
    HEAT_LOCKED = 5
    LOW_BATTERY = 6
    NOT_AUTHENTICATED = 7
    BAD_LENGTH = 8
    TEST_MODE_REFUSED = 9  #: a test-mode message outside test mode, or a refused entry (section 12)


class Waveform(enum.IntEnum):
    """How a zone's motor follows its intensity."""

    CONSTANT = 0  #: steady at ``intensity``
    PULSE = 1  #: on for half of ``period_ms``, off for the other half
    WAVE = 2  #: smooth swell between 0 and ``intensity`` every ``period_ms``
    PATTERN = 3  #: loop the uploaded pattern ``pattern_id``, scaled to ``intensity``


class ZonePosition(enum.IntEnum):
    """Where on the body a zone sits; hosts map techniques onto positions."""

    NAPE = 0  #: back of the neck, centre
    NECK_LEFT = 1
    NECK_RIGHT = 2
    SHOULDER_LEFT = 3
    SHOULDER_RIGHT = 4
    UPPER_BACK = 5
    FRONT_NECK = 6  #: gentle stroking only (carotid arteries, lymph nodes)
    HANDHELD = 7  #: a handheld head, wherever the hand puts it


class Feature(enum.IntFlag):
    """Feature flags in INFO."""

    HEAT = 0x0001
    PATTERNS = 0x0002
    BATTERY = 0x0004
    CHARGING = 0x0008
    BUTTON = 0x0010
    TEMPERATURE_SENSOR = 0x0020
    AUTH = 0x0040  #: authenticated mode: state changes must be signed (spec section 10)
    TEST_MODE = 0x0080  #: built for test: faults can be injected (section 12); never in production


class Fault(enum.IntFlag):
    """Fault and latch flags in STATUS."""

    OVERHEAT = 0x01
    SENSOR = 0x02
    LOW_BATTERY = 0x04
    MOTOR = 0x08
    BATTERY_CRITICAL = 0x10
    WATCHDOG = 0x20  #: outputs were stopped by the device watchdog
    AUTO_OFF = 0x40  #: outputs were stopped by auto-off


class EventCode(enum.IntEnum):
    """What an EVENT reports."""

    OVERHEAT = 1
    SENSOR_FAULT = 2
    LOW_BATTERY = 3
    WATCHDOG_STOP = 4
    AUTO_OFF = 5
    BUTTON = 6
    SHUTDOWN = 7
    CHARGER = 8
    MOTOR_FAULT = 9
    LINK_STOP = 10  #: another link stopped the outputs (sent to the controlling link)


class EventState(enum.IntEnum):
    """Whether an EVENT's condition started, ended, or was a one-off."""

    CLEARED = 0
    RAISED = 1
    MOMENTARY = 2


class SessionFlag(enum.IntFlag):
    """Flags in SESSION (authenticated mode)."""

    PAIRING_OPEN = 0x01  #: the pairing window is open: PAIR is accepted now
    LABEL_KEY = 0x02  #: the key is the secret printed on the device's label (never paired)


class TestFault(enum.IntEnum):
    """What TEST_INJECT simulates (spec section 12.3)."""

    __test__ = False  # a code table, not a pytest class

    SENSOR_OK = 0x01  #: the temperature sensor reads the pad again
    SENSOR_STUCK = 0x02  #: the sensor reads ``value`` (0.1 C) from now on; -32768: its reading now
    SENSOR_OPEN = 0x03  #: the sensor reads as an open circuit (below its range)
    SENSOR_SHORT = 0x04  #: the sensor reads as a short circuit (above its range)
    HEATER_STUCK_ON = 0x05  #: ``value`` 1: the heater driver conducts fully when enabled; 0: not
    BATTERY_LEVEL = 0x06  #: the battery reads ``value`` % (0..100); -1: the real gauge again
    CHARGER = 0x07  #: ``value`` 1: a charger is connected; 0: disconnected
    BUTTON = 0x08  #: the button is pressed once (``value`` 0)


#: ENTER_TEST_MODE's ``magic``: ASCII ``TEST`` read as a little-endian u32.
TEST_MODE_MAGIC = 0x54534554
#: How long after answering GET_INFO on a link a device accepts ENTER_TEST_MODE there.
TEST_ENTRY_WINDOW_S = 10.0
#: TEST_INJECT SENSOR_STUCK ``value``: stick at the reading of the moment.
STUCK_AT_READING = -0x8000

#: Zone mask bits: bit ``i`` addresses zone ``i`` as listed in INFO.
MAX_ZONES = 8
#: The most intensity steps a device has: STATUS reports a level in 4 bits.
MAX_INTENSITY_STEPS = 15
#: STATUS ``heat`` field value meaning "no temperature sensor reading".
NO_TEMPERATURE = -0x800
#: STATUS ``power`` percent value meaning "no battery (mains powered)".
NO_BATTERY = 0x7F


# --------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------

M = TypeVar("M", bound="Message")
_PARSE_ERRORS = (cs.ConstructError, struct.error, UnicodeDecodeError, ValueError, IndexError)
_PascalUtf8 = cs.PascalString(cs.Int8ul, "utf8")


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """A typed NMP/1 message. Subclasses declare ``TYPE`` and ``WIRE``."""

    TYPE: ClassVar[MsgType]
    #: The payload layout. Field names equal the dataclass field names.
    WIRE: ClassVar[cs.Construct]
    #: A struct-module codec derived from WIRE when it is a flat run of
    #: integers: the hot path for messages sent many times a second skips
    #: construct's Containers. Property tests check both paths agree.
    _FAST: ClassVar[_FlatLayout | None] = None
    _COMPILED: ClassVar[Any] = None
    #: The most bytes a layout's trailing byte list holds (section 2.1's bound on
    #: the payload); ``None``: as many as a frame carries.
    TAIL_MAX: ClassVar[int | None] = None

    @classmethod
    def decode_payload(cls: type[M], payload: bytes | bytearray | memoryview) -> M:
        """Parse a payload. Trailing bytes are ignored (fields appended by a newer
        minor revision); a short or malformed payload raises ``MalformedPayload``."""
        fast = cls._FAST
        if fast is not None:
            if len(payload) < fast.size:
                raise MalformedPayload(
                    f"{cls.TYPE.name} payload is {len(payload)} bytes, needs at least {fast.size}"
                )
            return cls(*fast.decode(payload))
        try:
            container = cls._COMPILED.parse(bytes(payload))
        except _PARSE_ERRORS as exc:
            # construct's compiled parsers surface struct and index errors as is
            raise MalformedPayload(f"{cls.TYPE.name} payload does not parse: {exc}") from None
        return cls._from_container(container)

    def encode_payload(self) -> bytes:
        """Build the payload bytes; out-of-range field values raise ``MalformedPayload``."""
        fast = self._FAST
        try:
            if fast is not None:
                return fast.encode(self)
            return bytes(self._COMPILED.build(self._to_container()))
        except (struct.error, cs.ConstructError, UnicodeEncodeError, TypeError, ValueError) as exc:
            raise MalformedPayload(f"cannot build {self.TYPE.name} from {self!r}: {exc}") from None

    @classmethod
    def _from_container(cls: type[M], container: Any) -> M:
        return cls(**{f.name: container[f.name] for f in dataclasses.fields(cls)})

    def _to_container(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def fields(self) -> dict[str, Any]:
        """The wire fields as plain JSON-able values (lists for sequences)."""
        return {k: _plain(v) for k, v in self._to_container().items()}

    @classmethod
    def from_fields(cls: type[M], fields: dict[str, Any]) -> M:
        """Build from plain fields (the inverse of :meth:`fields`)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(fields) - names
        missing = names - set(fields)
        if unknown or missing:
            raise MalformedPayload(
                f"{cls.TYPE.name} fields: unknown {sorted(unknown)}, missing {sorted(missing)}; "
                f"expected {sorted(names)}"
            )
        return cls._from_container(fields)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return int(value.value)
    return value


#: Registry of message classes by type byte.
MESSAGES: dict[int, type[Message]] = {}


class _FlatLayout:
    """A ``struct`` codec for a construct Struct of fixed-width little-endian
    integers, 24-bit integers, and at most one trailing run of bytes."""

    __slots__ = ("_names", "_struct", "_tail", "_u24", "size")

    def __init__(self, fmt: str, u24: list[int], tail: bool, names: list[str]) -> None:
        self._struct = struct.Struct(fmt)
        self.size = self._struct.size
        self._u24 = u24  # positions (in field order) of 24-bit fields
        self._tail = tail
        self._names = names

    @classmethod
    def derive(cls, wire: Any) -> _FlatLayout | None:
        fmt, u24, tail, names = "<", [], False, []
        for index, sub in enumerate(wire.subcons):
            leaf = unwrap(sub)
            names.append(sub.name)
            if tail:
                return None  # a run of bytes is only allowed last
            if isinstance(leaf, cs.FormatField) and leaf.fmtstr[0] == "<":
                fmt += leaf.fmtstr[1:]
            elif isinstance(leaf, cs.BytesInteger) and leaf.length == 3 and leaf.swapped:
                if leaf.signed:
                    return None
                fmt += "HB"
                u24.append(index)
            elif isinstance(leaf, cs.GreedyRange) and unwrap(leaf.subcon) is cs.Int8ul:
                tail = True
            else:
                return None
        return cls(fmt, u24, tail, names)

    def decode(self, payload: bytes | bytearray | memoryview) -> list[Any]:
        values: list[Any] = list(self._struct.unpack_from(payload))
        for index in self._u24:
            values[index : index + 2] = [values[index] | (values[index + 1] << 16)]
        if self._tail:
            values.append(tuple(payload[self.size :]))
        return values

    def encode(self, message: Any) -> bytes:
        values = [getattr(message, name) for name in self._names]
        tail = bytes(values.pop()) if self._tail else b""
        for index in reversed(self._u24):
            value = values[index]
            if not 0 <= value <= 0xFFFFFF:
                raise ValueError(f"{self._names[index]}={value} does not fit 24 bits")
            values[index : index + 1] = [value & 0xFFFF, value >> 16]
        return self._struct.pack(*values) + tail


def unwrap(con: Any) -> Any:
    """The construct under any names and docs wrapped around it."""
    while isinstance(con, cs.Renamed):
        con = con.subcon
    return con


def _register(cls: type[M]) -> type[M]:
    wire = cls.WIRE
    cls._FAST = _FlatLayout.derive(wire)
    cls._COMPILED = wire.compile()
    MESSAGES[cls.TYPE] = cls
    return cls


def message_class(msg_type: int) -> type[Message]:
    """The class for a type byte; ``UnknownMessageType`` if there is none."""
    try:
        return MESSAGES[msg_type]
    except KeyError:
        raise UnknownMessageType(msg_type) from None


# --------------------------------------------------------------------------
# Host to device
# --------------------------------------------------------------------------


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class GetInfo(Message):
    """Ask for the device's INFO (capabilities). Reply: INFO with the same seq."""

    TYPE = MsgType.GET_INFO
    WIRE = cs.Struct()


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class GetStatus(Message):
    """Ask for a STATUS now. Reply: STATUS with the same seq."""

    TYPE = MsgType.GET_STATUS
    WIRE = cs.Struct()


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class SetOutput(Message):
    """Set the motors of the zones in ``zone_mask``. Reply: ACK or NACK."""

    TYPE = MsgType.SET_OUTPUT
    WIRE = cs.Struct(
        "zone_mask" / cs.Int8ul * "bit i addresses zone i of INFO's zone list; 0 bits are NACKed",
        "intensity" / cs.Int8ul * "0 (off) .. INFO intensity_steps",
        "waveform" / cs.Int8ul * "0 constant, 1 pulse, 2 wave, 3 pattern",
        "pattern_id" / cs.Int8ul * "uploaded pattern slot when waveform = 3, else 0",
        "period_ms"
        / cs.Int16ul
        * "pulse/wave period; for a pattern, the phase offset into its loop",
    )
    zone_mask: int
    intensity: int
    waveform: int = Waveform.CONSTANT
    pattern_id: int = 0
    period_ms: int = 0


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class SetHeat(Message):
    """Set the heater's target temperature, or turn it off. Reply: ACK or NACK."""

    TYPE = MsgType.SET_HEAT
    WIRE = cs.Struct(
        "target_dc" / cs.Int16ul * "target in 0.1 C; 0 = heater off",
    )
    target_dc: int


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class StopAll(Message):
    """Stop every motor and the heater at once. Never NACKed. Reply: ACK."""

    TYPE = MsgType.STOP_ALL
    WIRE = cs.Struct()


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class Keepalive(Message):
    """Feed the device watchdog. Reply: ACK."""

    TYPE = MsgType.KEEPALIVE
    WIRE = cs.Struct()


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class SetAutoOff(Message):
    """Set the auto-off timer. Reply: ACK or NACK."""

    TYPE = MsgType.SET_AUTO_OFF
    WIRE = cs.Struct(
        "seconds" / cs.Int16ul * "1 .. INFO auto_off_max_s; 0 = the device default",
    )
    seconds: int


@dataclasses.dataclass(frozen=True, slots=True)
class PatternStep:
    """One step of an uploaded pattern."""

    level_pct: int  #: 0..100, percent of the SET_OUTPUT intensity
    duration_ms: int  #: 1..65535


_PATTERN_STEP = cs.Struct(
    "level_pct" / cs.Int8ul * "0..100 % of the SET_OUTPUT intensity",
    "duration_ms" / cs.Int16ul * "1..65535",
)


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class UploadPattern(Message):
    """Store a looping intensity pattern in a slot. Reply: ACK or NACK.

    The device plays it on its own clock once a SET_OUTPUT selects it, so a
    jittery link never stutters a massage.
    """

    TYPE = MsgType.UPLOAD_PATTERN
    WIRE = cs.Struct(
        "pattern_id" / cs.Int8ul * "0 .. INFO pattern_slots - 1",
        "steps" / cs.PrefixedArray(cs.Int8ul, _PATTERN_STEP) * "1 .. INFO pattern_max_steps steps",
    )
    pattern_id: int
    steps: tuple[PatternStep, ...]

    @classmethod
    def _from_container(cls, container: Any) -> UploadPattern:
        return cls(
            pattern_id=container["pattern_id"],
            steps=tuple(
                s if isinstance(s, PatternStep) else PatternStep(s["level_pct"], s["duration_ms"])
                for s in container["steps"]
            ),
        )

    def _to_container(self) -> dict[str, Any]:
        return {
            "pattern_id": self.pattern_id,
            "steps": [{"level_pct": s.level_pct, "duration_ms": s.duration_ms} for s in self.steps],
        }

    @property
    def loop_ms(self) -> int:
        """The length of one loop of the pattern."""
        return sum(s.duration_ms for s in self.steps)


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class GetSession(Message):
    """Ask for this link's authentication session. Reply: SESSION with the same seq."""

    TYPE = MsgType.GET_SESSION
    WIRE = cs.Struct()


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class Pair(Message):
    """Give the device a new 32-byte secret while its pairing window is open. Reply: ACK or NACK."""

    TYPE = MsgType.PAIR
    TAIL_MAX = 32  # the secret
    WIRE = cs.Struct(
        "key" / cs.GreedyRange(cs.Int8ul) * "the new secret, exactly 32 bytes",
    )
    #: Secret: kept out of ``repr`` so that logging a message never shows it.
    key: tuple[int, ...] = dataclasses.field(repr=False)

    @classmethod
    def _from_container(cls, container: Any) -> Pair:
        return cls(tuple(container["key"]))

    def _to_container(self) -> dict[str, Any]:
        return {"key": list(self.key)}


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class EnterTestMode(Message):
    """Enter test mode (section 12), on a device built for test only. Reply: ACK or NACK."""

    TYPE = MsgType.ENTER_TEST_MODE
    WIRE = cs.Struct(
        "magic" / cs.Int32ul * "0x54534554 (ASCII TEST)",
        "serial_crc" / cs.Int16ul * "CRC-16/CCITT-FALSE of the UTF-8 serial in this device's INFO",
    )
    magic: int
    serial_crc: int

    @classmethod
    def for_serial(cls, serial: str) -> EnterTestMode:
        """The deliberate request for the device whose INFO carries ``serial``."""
        return cls(TEST_MODE_MAGIC, crc16_ccitt_false(serial.encode("utf-8")))


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class ExitTestMode(Message):
    """Leave test mode: every injected fault is lifted and everything stops. Reply: ACK."""

    TYPE = MsgType.EXIT_TEST_MODE
    WIRE = cs.Struct()


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class TestInject(Message):
    """Simulate a hardware fault or a user action, in test mode only. Reply: ACK or NACK."""

    __test__ = False  # a message, not a pytest class
    TYPE = MsgType.TEST_INJECT
    WIRE = cs.Struct(
        "fault" / cs.Int8ul * "TestFault (table below)",
        "value" / cs.Int16sl * "the fault's argument (table below); else 0",
    )
    fault: int
    value: int = 0


# --------------------------------------------------------------------------
# Device to host
# --------------------------------------------------------------------------


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class Ack(Message):
    """The command with this frame's seq was applied."""

    TYPE = MsgType.ACK
    WIRE = cs.Struct("acked_type" / cs.Int8ul * "type byte of the acknowledged command")
    acked_type: int


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class Nack(Message):
    """The command with this frame's seq was refused and changed nothing."""

    TYPE = MsgType.NACK
    WIRE = cs.Struct(
        "acked_type" / cs.Int8ul * "type byte of the refused command",
        "code" / cs.Int8ul * "NACK code (table below)",
    )
    acked_type: int
    code: int

    @property
    def reason(self) -> str:
        """The NACK code's name, or ``CODE_<n>`` for a code this host does not know."""
        try:
            return NackCode(self.code).name
        except ValueError:
            return f"CODE_{self.code}"


@dataclasses.dataclass(frozen=True, slots=True)
class ZoneInfo:
    """A zone as INFO describes it."""

    position: int  #: a ZonePosition value
    name: str


_ZONE = cs.Struct(
    "position" / cs.Int8ul * "ZonePosition (table below)",
    "name" / _PascalUtf8 * "UTF-8, length-prefixed",
)


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class Info(Message):
    """What the device is and can do; a host adapts to it without knowing the model."""

    TYPE = MsgType.INFO
    WIRE = cs.Struct(
        "protocol_version" / cs.Int8ul * "1",
        "fw_major" / cs.Int8ul,
        "fw_minor" / cs.Int8ul,
        "fw_patch" / cs.Int8ul,
        "features" / cs.Int16ul * "Feature flags (table below)",
        "intensity_steps"
        / cs.Int8ul
        * "highest intensity level, 1..15 (levels are 0..steps; 1.0 allowed up to 255)",
        "watchdog_ms" / cs.Int16ul * "outputs stop after this long without a frame",
        "auto_off_default_s" / cs.Int16ul,
        "auto_off_max_s" / cs.Int16ul,
        "heat_limit_dc" / cs.Int16ul * "the heater never exceeds this (0.1 C); 0 without heat",
        "battery_mah" / cs.Int16ul * "0 on mains power",
        "pattern_slots" / cs.Int8ul,
        "pattern_max_steps" / cs.Int8ul,
        "min_gap_ms" / cs.Int8ul * "smallest gap between output commands the device keeps up with",
        "model" / _PascalUtf8 * "UTF-8, length-prefixed",
        "serial" / _PascalUtf8 * "UTF-8, length-prefixed",
        "heat_targets_dc" / cs.PrefixedArray(cs.Int8ul, cs.Int16ul) * "preset targets (0.1 C)",
        "zones" / cs.PrefixedArray(cs.Int8ul, _ZONE) * "zone i is bit i of a zone mask",
    )
    protocol_version: int
    fw_major: int
    fw_minor: int
    fw_patch: int
    features: int
    intensity_steps: int
    watchdog_ms: int
    auto_off_default_s: int
    auto_off_max_s: int
    heat_limit_dc: int
    battery_mah: int
    pattern_slots: int
    pattern_max_steps: int
    min_gap_ms: int
    model: str
    serial: str
    heat_targets_dc: tuple[int, ...]
    zones: tuple[ZoneInfo, ...]

    @classmethod
    def _from_container(cls, container: Any) -> Info:
        values = {f.name: container[f.name] for f in dataclasses.fields(cls)}
        values["heat_targets_dc"] = tuple(values["heat_targets_dc"])
        values["zones"] = tuple(
            z if isinstance(z, ZoneInfo) else ZoneInfo(z["position"], z["name"])
            for z in values["zones"]
        )
        return cls(**values)

    def _to_container(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["heat_targets_dc"] = list(self.heat_targets_dc)
        values["zones"] = [{"position": z.position, "name": z.name} for z in self.zones]
        return values

    @property
    def firmware_version(self) -> str:
        """``major.minor.patch``."""
        return f"{self.fw_major}.{self.fw_minor}.{self.fw_patch}"

    def has(self, feature: Feature) -> bool:
        """Whether INFO advertises ``feature``."""
        return bool(self.features & feature)


class ZoneLevels(cs.Construct):  # type: ignore[misc]
    """STATUS' zone part: ``n`` levels of 4 bits, two to a byte, zone ``2k`` in the
    low half of byte ``k``; ``n`` sits in bits 12-15 of ``auto_off_s``.

    A construct so the spec table and the C generator see the field where it is;
    :class:`Status` carries its own codec (the two 1.1 fields share bits, and a
    1.0 STATUS has its levels one byte each).
    """

    #: The field whose top 4 bits hold the zone count, and where they start.
    COUNT_FIELD = "auto_off_s"
    COUNT_SHIFT = 12
    #: The field and bit that mark the 1.1 zone part (reserved, 0, in 1.0).
    FLAG_FIELD = "faults"
    FLAG = 0x80
    #: The spec table's type column.
    SPEC_TYPE = "u4 x n, two per byte: ceil(n / 2) bytes"

    def _parse(self, stream: Any, context: Any, path: Any) -> list[int]:
        count = context[self.COUNT_FIELD] >> self.COUNT_SHIFT
        packed = cs.stream_read(stream, (count + 1) // 2, path)
        return [(packed[i // 2] >> (4 * (i % 2))) & 0xF for i in range(count)]

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        cs.stream_write(stream, _pack_levels(obj), None, path)
        return obj


def _pack_levels(levels: Sequence[int]) -> bytes:
    if any(not 0 <= level <= 0xF for level in levels):
        raise ValueError(f"zone levels {list(levels)} must each be 0..15")
    padded = [*levels, 0]
    return bytes(padded[i] | (padded[i + 1] << 4) for i in range(0, len(levels), 2))


#: STATUS ``auto_off_s`` ceiling: 12 bits; a device with more left sends this.
AUTO_OFF_STATUS_MAX = 0xFFF
#: Bit 7 of STATUS ``faults``: the zone part has the 1.1 form (1.0 sent it as 0).
STATUS_PACKED = ZoneLevels.FLAG
_STATUS_HEAD = struct.Struct("<BHBHBH")  # power, battery_mv, faults, heat (u16 + u8), auto_off


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class Status(Message):
    """The device's state. Sent in reply to GET_STATUS and, with seq 0, unprompted.

    On the wire (1.1) the zone count shares ``auto_off_s``' u16 and the levels
    are packed two to a byte, so eight zones fit one BLE write; bytes after the
    levels are fields a later revision appends, skipped here. A STATUS whose
    ``faults`` bit 7 is clear is a 1.0 device's: ``auto_off_s`` is the whole
    u16 and the levels run, one byte each, to the end of the payload. The
    fields hold the values (``faults`` without bit 7, ``auto_off_s`` in
    seconds, a level per zone), not the shared bits.
    """

    TYPE = MsgType.STATUS
    TAIL_MAX = MAX_ZONES  # a 1.0 device's level bytes: section 2.1's bound stays 9 + 8
    WIRE = cs.Struct(
        "power" / cs.Int8ul * "bit 7 charging; bits 0-6 battery % (127 = no battery)",
        "battery_mv" / cs.Int16ul * "battery voltage in mV (0 = no battery)",
        "faults"
        / cs.Int8ul
        * "bits 0-6 Fault flags (table below); bit 7 set: the 1.1 layout (a 1.0 device sends 0)",
        "heat"
        / cs.Int24ul
        * (
            "bits 0-11 heater target 0.1 C (0 = off); "
            "bits 12-23 measured 0.1 C, signed (-2048 = none)"
        ),
        "auto_off_s"
        / cs.Int16ul
        * (
            "bits 0-11 seconds until auto-off (0 when nothing is on; 4095: that or more); "
            "bits 12-15 the zone count n, 0..8"
        ),
        "intensities"
        / ZoneLevels()
        * (
            "output level of each zone (0..15) in INFO order: zone 2k in bits 0-3 of "
            "byte k, zone 2k + 1 in bits 4-7 (0 in the last byte when n is odd)"
        ),
    )
    power: int
    battery_mv: int
    faults: int
    heat: int
    auto_off_s: int
    intensities: tuple[int, ...]

    @classmethod
    def decode_payload(cls, payload: bytes | bytearray | memoryview) -> Status:
        """Parse a 1.1 STATUS (or a 1.0 device's); appended fields are skipped."""
        head = _STATUS_HEAD.size
        if len(payload) < head:
            raise MalformedPayload(f"STATUS payload is {len(payload)} bytes, needs at least {head}")
        power, battery_mv, faults, heat_lo, heat_hi, auto_off = _STATUS_HEAD.unpack_from(payload)
        heat = heat_lo | (heat_hi << 16)
        if not faults & STATUS_PACKED:  # 1.0: one byte per zone, to the end
            return cls(power, battery_mv, faults, heat, auto_off, tuple(payload[head:]))
        count = auto_off >> ZoneLevels.COUNT_SHIFT
        if count > MAX_ZONES:
            raise MalformedPayload(f"STATUS zone count is {count}; a device has 0..{MAX_ZONES}")
        end = head + (count + 1) // 2
        if len(payload) < end:
            raise MalformedPayload(
                f"STATUS of {count} zones is {len(payload)} bytes, needs at least {end}"
            )
        packed = payload[head:end]
        levels = tuple((packed[i >> 1] >> (4 * (i & 1))) & 0xF for i in range(count))
        return cls(power, battery_mv, faults & ~STATUS_PACKED, heat, auto_off & 0xFFF, levels)

    def encode_payload(self) -> bytes:
        """Build the 1.1 payload; a value its field cannot hold raises ``MalformedPayload``."""
        try:
            if not 0 <= self.faults < STATUS_PACKED:
                raise ValueError(f"faults=0x{self.faults:X}: fault flags are bits 0-6")
            if not 0 <= self.auto_off_s <= AUTO_OFF_STATUS_MAX:
                raise ValueError(f"auto_off_s={self.auto_off_s} is outside 0..4095")
            if len(self.intensities) > MAX_ZONES:
                raise ValueError(f"{len(self.intensities)} zones; at most {MAX_ZONES}")
            if not 0 <= self.heat <= 0xFFFFFF:
                raise ValueError(f"heat={self.heat} does not fit 24 bits")
            count = len(self.intensities) << ZoneLevels.COUNT_SHIFT
            return _STATUS_HEAD.pack(
                self.power,
                self.battery_mv,
                self.faults | STATUS_PACKED,
                self.heat & 0xFFFF,
                self.heat >> 16,
                self.auto_off_s | count,
            ) + _pack_levels(self.intensities)
        except (struct.error, TypeError, ValueError) as exc:
            raise MalformedPayload(f"cannot build STATUS from {self!r}: {exc}") from None

    def encode_payload_1_0(self) -> bytes:
        """The payload as a 1.0 device sent it (``faults`` bit 7 clear, ``auto_off_s``
        a whole u16, a byte per zone): what a 1.1 receiver must still read."""
        try:
            head = _STATUS_HEAD.pack(
                self.power,
                self.battery_mv,
                self.faults & ~STATUS_PACKED,
                self.heat & 0xFFFF,
                self.heat >> 16,
                self.auto_off_s,
            )
            return head + bytes(self.intensities)
        except (struct.error, TypeError, ValueError) as exc:
            raise MalformedPayload(f"cannot build a 1.0 STATUS from {self!r}: {exc}") from None

    @classmethod
    def make(
        cls,
        *,
        battery_pct: int | None,
        charging: bool = False,
        battery_mv: int = 0,
        faults: int = 0,
        heat_target_dc: int = 0,
        temperature_dc: int | None = None,
        auto_off_s: int = 0,
        intensities: Sequence[int] = (),
    ) -> Status:
        """Build a STATUS from named values (``None`` for no battery / no sensor).

        ``auto_off_s`` above 4095 is sent as 4095 (the spec's "that or more")."""
        pct = NO_BATTERY if battery_pct is None else max(0, min(100, battery_pct))
        temp = NO_TEMPERATURE if temperature_dc is None else max(-2047, min(2047, temperature_dc))
        if not 0 <= heat_target_dc <= 0xFFF:
            raise MalformedPayload(f"heat target {heat_target_dc} outside 0..4095 (0.1 C)")
        return cls(
            power=(0x80 if charging else 0) | pct,
            battery_mv=battery_mv,
            faults=faults,
            heat=heat_target_dc | ((temp & 0xFFF) << 12),
            auto_off_s=min(auto_off_s, AUTO_OFF_STATUS_MAX),
            intensities=tuple(intensities),
        )

    @classmethod
    def _from_container(cls, container: Any) -> Status:
        return cls(
            power=container["power"],
            battery_mv=container["battery_mv"],
            faults=container["faults"],
            heat=container["heat"],
            auto_off_s=container["auto_off_s"],
            intensities=tuple(container["intensities"]),
        )

    def _to_container(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["intensities"] = list(self.intensities)
        return values

    @property
    def charging(self) -> bool:
        """Whether the battery is charging."""
        return bool(self.power & 0x80)

    @property
    def battery_pct(self) -> int | None:
        """Battery charge in percent, or ``None`` on a mains-powered device."""
        pct = self.power & 0x7F
        return None if pct == NO_BATTERY else pct

    @property
    def heat_target_dc(self) -> int:
        """Heater target in 0.1 C; 0 means off."""
        return self.heat & 0xFFF

    @property
    def temperature_dc(self) -> int | None:
        """Measured heater temperature in 0.1 C, or ``None`` without a reading."""
        raw = (self.heat >> 12) & 0xFFF
        value = raw - 0x1000 if raw & 0x800 else raw
        return None if value == NO_TEMPERATURE else value


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class Event(Message):
    """Something happened on the device. Sent unprompted with seq 0."""

    TYPE = MsgType.EVENT
    WIRE = cs.Struct(
        "code" / cs.Int8ul * "EventCode (table below)",
        "state" / cs.Int8ul * "0 cleared, 1 raised, 2 momentary",
        "value" / cs.Int16sl * "context: temperature 0.1 C, battery %, seconds; else 0",
    )
    code: int
    state: int
    value: int = 0

    @property
    def name(self) -> str:
        """The event code's name, or ``EVENT_<n>`` for one this host does not know."""
        try:
            return EventCode(self.code).name
        except ValueError:
            return f"EVENT_{self.code}"


@_register
@dataclasses.dataclass(frozen=True, slots=True)
class Session(Message):
    """This link's authentication session: the nonce host MACs cover, and the key's id."""

    TYPE = MsgType.SESSION
    TAIL_MAX = 8  # the nonce
    WIRE = cs.Struct(
        "flags" / cs.Int8ul * "Session flags (table below)",
        "key_id" / cs.Int32ul * "first 4 bytes of HMAC-SHA-256(key, 'NMP1 key id'), little-endian",
        "nonce" / cs.GreedyRange(cs.Int8ul) * "8 bytes, fresh for each link connection and key",
    )
    flags: int
    key_id: int
    nonce: tuple[int, ...]

    @classmethod
    def _from_container(cls, container: Any) -> Session:
        return cls(container["flags"], container["key_id"], tuple(container["nonce"]))

    def _to_container(self) -> dict[str, Any]:
        return {"flags": self.flags, "key_id": self.key_id, "nonce": list(self.nonce)}


#: Which messages a host sends and which a device sends.
HOST_MESSAGES: tuple[type[Message], ...] = tuple(c for t, c in MESSAGES.items() if t < 0x80)
DEVICE_MESSAGES: tuple[type[Message], ...] = tuple(c for t, c in MESSAGES.items() if t >= 0x80)

#: Codes tables rendered into the spec, keyed by heading.
CODE_TABLES: dict[str, type[enum.Enum]] = {
    "Message types": MsgType,
    "NACK codes": NackCode,
    "Waveforms": Waveform,
    "Zone positions": ZonePosition,
    "Feature flags": Feature,
    "Fault flags": Fault,
    "Event codes": EventCode,
    "Event states": EventState,
    "Session flags": SessionFlag,
    "Test faults": TestFault,
}
