"""Tuya data points: the device's state as numbered, typed values.

A DPS write or a DP report carries data points back to back::

    id (u8) | type (u8) | length (u8) | value (big-endian)
"""

from __future__ import annotations

import dataclasses
import enum
import struct

import construct as cs

from massager_protocols.errors import FrameError, MalformedPayload


class DpType(enum.IntEnum):
    """A data point's type."""

    RAW = 0  #: bytes
    BOOL = 1  #: one byte, 0 or 1
    VALUE = 2  #: signed 32-bit integer
    STRING = 3  #: UTF-8
    ENUM = 4  #: unsigned, one byte (``DT_ENUM_LEN`` of Tuya's BLE SDK)
    BITMAP = 5  #: bytes


#: One data point as construct sees it.
DATAPOINT = cs.Struct(
    "id" / cs.Int8ul * "data point id (1..255)",
    "type" / cs.Int8ul * "DpType (table below)",
    "length" / cs.Rebuild(cs.Int8ul, cs.len_(cs.this.value)) * "bytes of value",
    "value" / cs.Bytes(cs.this.length) * "big-endian value",
)


@dataclasses.dataclass(frozen=True, slots=True)
class DataPoint:
    """One data point: its id, type and value (``bool``, ``int``, ``str`` or ``bytes``)."""

    id: int
    type: DpType
    value: bool | int | str | bytes

    def encode(self) -> bytes:
        """``id type length value``."""
        raw = _value_bytes(self.type, self.value)
        if not 1 <= self.id <= 255 or len(raw) > 255:
            raise MalformedPayload(f"data point {self.id} with {len(raw)} value bytes")
        return struct.pack("BBB", self.id, int(self.type), len(raw)) + raw


def _value_bytes(dp_type: DpType, value: bool | int | str | bytes) -> bytes:
    try:
        match dp_type:
            case DpType.BOOL:
                return b"\x01" if value else b"\x00"
            case DpType.VALUE:
                return struct.pack(">i", int(value))
            case DpType.ENUM:
                number = int(value)
                if not 0 <= number <= 0xFF:
                    raise MalformedPayload(
                        f"an ENUM data point is one byte (0..255) in Tuya's BLE SDK, got {number}"
                    )
                return bytes([number])
            case DpType.STRING:
                return str(value).encode("utf-8")
            case DpType.RAW | DpType.BITMAP:
                return bytes(value) if isinstance(value, bytes) else bytes([int(value)])
    except (struct.error, OverflowError, ValueError, TypeError) as exc:
        raise MalformedPayload(
            f"a {dp_type.name} data point cannot hold {value!r}: {exc}"
        ) from None
    raise MalformedPayload(f"unknown data point type {dp_type!r}")


def encode_datapoints(points: list[DataPoint]) -> bytes:
    """Data points back to back."""
    return b"".join(p.encode() for p in points)


def decode_datapoints(data: bytes) -> list[DataPoint]:
    """Every data point in ``data``. ``FrameError`` if one is cut short or of unknown type."""
    points: list[DataPoint] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 3:
            raise FrameError(f"{len(data) - pos} stray bytes after the data points")
        dp_id, raw_type, length = data[pos], data[pos + 1], data[pos + 2]
        pos += 3
        raw = data[pos : pos + length]
        if len(raw) != length:
            raise FrameError(f"data point {dp_id} says {length} bytes, {len(raw)} remain")
        pos += length
        try:
            dp_type = DpType(raw_type)
        except ValueError:
            raise FrameError(f"data point {dp_id} has unknown type {raw_type}") from None
        value: bool | int | str | bytes
        match dp_type:
            case DpType.BOOL:
                value = any(raw)
            case DpType.VALUE:
                value = int.from_bytes(raw, "big", signed=True)
            case DpType.ENUM:
                value = int.from_bytes(raw, "big")
            case DpType.STRING:
                value = raw.decode("utf-8", errors="replace")
            case _:
                value = bytes(raw)
        points.append(DataPoint(dp_id, dp_type, value))
    return points
