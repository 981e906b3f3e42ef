"""What a device can do, whatever protocol it speaks.

Everything above the transport (client, safety, programs, bridge) reads
capabilities from here, never from a protocol message, so a program written once
plays on any supported device.
"""

from __future__ import annotations

import dataclasses
import enum
import warnings
from typing import Any

from massager_protocols.nmp import ZonePosition


class Row(enum.IntEnum):
    """Vertical order of zones, top to bottom (a sweep travels down the rows)."""

    NECK = 0
    SHOULDERS = 1
    BACK = 2


class Side(enum.IntEnum):
    """Horizontal side of a zone (a circular rub runs the sides out of phase)."""

    LEFT = -1
    CENTRE = 0
    RIGHT = 1


_PLACEMENT: dict[int, tuple[Row, Side]] = {
    ZonePosition.NAPE: (Row.NECK, Side.CENTRE),
    ZonePosition.NECK_LEFT: (Row.NECK, Side.LEFT),
    ZonePosition.NECK_RIGHT: (Row.NECK, Side.RIGHT),
    ZonePosition.SHOULDER_LEFT: (Row.SHOULDERS, Side.LEFT),
    ZonePosition.SHOULDER_RIGHT: (Row.SHOULDERS, Side.RIGHT),
    ZonePosition.UPPER_BACK: (Row.BACK, Side.CENTRE),
    ZonePosition.FRONT_NECK: (Row.NECK, Side.CENTRE),
    ZonePosition.HANDHELD: (Row.NECK, Side.CENTRE),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Zone:
    """One independently driven output (a motor or group of motors)."""

    index: int  #: bit ``index`` of a zone mask
    name: str
    position: ZonePosition

    @property
    def row(self) -> Row:
        """Where the zone sits top to bottom."""
        return _PLACEMENT.get(self.position, (Row.NECK, Side.CENTRE))[0]

    @property
    def side(self) -> Side:
        """Where the zone sits left to right."""
        return _PLACEMENT.get(self.position, (Row.NECK, Side.CENTRE))[1]

    @property
    def gentle_only(self) -> bool:
        """Zones over the front of the neck take gentle stroking only."""
        return self.position == ZonePosition.FRONT_NECK


@dataclasses.dataclass(frozen=True, slots=True)
class HeatCapability:
    """The heater: preset targets and the hard limit, in degrees Celsius."""

    targets_c: tuple[float, ...]
    limit_c: float


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceCapabilities:
    """A device's abilities, as the device reports them or its device profile says."""

    model: str
    serial: str
    firmware: str
    protocol: str
    zones: tuple[Zone, ...]
    intensity_steps: int  #: levels are 0..intensity_steps
    heat: HeatCapability | None
    battery_mah: int | None  #: ``None`` on mains power
    pattern_slots: int  #: 0 when the device cannot loop uploaded patterns
    pattern_max_steps: int
    min_gap_s: float  #: smallest gap between output commands the link keeps up with
    watchdog_s: float  #: the device stops outputs after this long without a frame
    auto_off_default_s: int
    auto_off_max_s: int
    has_button: bool = False
    has_temperature_sensor: bool = False
    #: The outputs stimulate electrically through skin pads (EMS/TENS), not with motors:
    #: the electrical screening applies, the front of the neck is refused and programs
    #: play at reduced levels (docs/safety.md, "Electrical stimulation").
    electrical: bool = False

    @property
    def all_zones_mask(self) -> int:
        """A zone mask addressing every zone."""
        return (1 << len(self.zones)) - 1

    @property
    def supports_patterns(self) -> bool:
        """Whether UPLOAD_PATTERN (or the protocol's equivalent) is available."""
        return self.pattern_slots > 0 and self.pattern_max_steps > 0

    def zone(self, key: int | str) -> Zone:
        """A zone by index or name (case-insensitive); ``KeyError`` names the valid ones."""
        for zone in self.zones:
            if zone.index == key or (isinstance(key, str) and zone.name.lower() == key.lower()):
                return zone
        valid = ", ".join(f"{z.index}={z.name!r}" for z in self.zones)
        raise KeyError(f"no zone {key!r} on {self.model}; zones are {valid}")

    @classmethod
    def from_nmp_info(cls, info: Any) -> DeviceCapabilities:
        """Deprecated: ``massager_sdk.protocols.nmp.capabilities_from_info(info)``."""
        warnings.warn(
            "DeviceCapabilities.from_nmp_info is deprecated: use "
            "massager_sdk.protocols.nmp.capabilities_from_info",
            DeprecationWarning,
            stacklevel=2,
        )
        # Loaded here: the adapters import this module.
        from massager_sdk.protocols.nmp import capabilities_from_info

        return capabilities_from_info(info)


def zone_position(value: int) -> ZonePosition:
    """The zone position a protocol reports; one this SDK does not know yet counts as
    the nape."""
    try:
        return ZonePosition(value)
    except ValueError:  # a position a newer firmware knows: treat it as the nape
        return ZonePosition.NAPE
