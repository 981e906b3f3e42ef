"""Device profiles: what a family of massagers is, as data.

A profile says how to recognise a device (advertised names, services,
manufacturer and service data; serial parameters), which wire protocol it
speaks and through which GATT characteristics, and, for protocols without an
INFO message, what it can do. :meth:`DeviceProfile.capabilities` turns that
into the :class:`~massager_sdk.capabilities.DeviceCapabilities` the client,
the safety policy and the programs compiler read.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Mapping
from typing import Any

from massager_protocols.nmp import ZonePosition

from massager_sdk.capabilities import DeviceCapabilities, HeatCapability, Zone
from massager_sdk.model import Waveform
from massager_sdk.transports import GattEndpoints as GattEndpoints  # where the bytes go


@dataclasses.dataclass(frozen=True, slots=True)
class DataPrefix:
    """Advertised data that starts with ``prefix`` (under a company id or a service UUID)."""

    key: int | str  #: company identifier (manufacturer data) or service UUID (service data)
    prefix: bytes = b""

    def matches(self, data: Mapping[Any, bytes]) -> bool:
        """Whether ``data[key]`` exists and starts with the prefix."""
        value = data.get(self.key)
        return value is not None and bytes(value).startswith(self.prefix)


@dataclasses.dataclass(frozen=True, slots=True)
class MatchRule:
    """One way to recognise the device: every condition given must hold.

    Each condition is a list of alternatives (any name pattern, any service...).
    """

    names: tuple[str, ...] = ()  #: local-name patterns (``*`` and ``?`` wildcards)
    services: tuple[str, ...] = ()  #: advertised service UUIDs (lower case)
    manufacturer: tuple[DataPrefix, ...] = ()
    service_data: tuple[DataPrefix, ...] = ()

    @property
    def weight(self) -> int:
        """How specific the rule is: data beats services beats names."""
        return (
            4 * bool(self.manufacturer)
            + 4 * bool(self.service_data)
            + 2 * bool(self.services)
            + bool(self.names)
        )

    def matches(
        self,
        name: str,
        services: frozenset[str],
        manufacturer: Mapping[int, bytes],
        service_data: Mapping[str, bytes],
    ) -> bool:
        """Whether an advertisement with these fields satisfies the rule."""
        if self.names and not any(fnmatch.fnmatchcase(name, p) for p in self.names):
            return False
        if self.services and not services.intersection(self.services):
            return False
        if self.manufacturer and not any(d.matches(manufacturer) for d in self.manufacturer):
            return False
        return not self.service_data or any(d.matches(service_data) for d in self.service_data)


@dataclasses.dataclass(frozen=True, slots=True)
class SerialParameters:
    """How the device's serial line is set up."""

    baud: int = 115200
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1


@dataclasses.dataclass(frozen=True, slots=True)
class ZoneSpec:
    """A zone as the profile lists it."""

    name: str
    position: ZonePosition
    device_zone: int  #: the protocol's own number for it


@dataclasses.dataclass(frozen=True, slots=True)
class ModeSpec:
    """A program of the device and the waveform it resembles."""

    value: int  #: the protocol's value for it
    name: str
    waveform: Waveform
    period_s: float = 0.0  #: its rhythm, for PULSE and WAVE


@dataclasses.dataclass(frozen=True, slots=True)
class HeatLevel:
    """A heat setting of the device and the temperature it reaches."""

    value: int  #: the protocol's value for it
    temperature_c: float


@dataclasses.dataclass(frozen=True, slots=True)
class ProfileCapabilities:
    """What a device without an INFO message can do."""

    model: str
    zones: tuple[ZoneSpec, ...]
    intensity_steps: int
    modes: tuple[ModeSpec, ...]
    heat_levels: tuple[HeatLevel, ...]
    heat_limit_c: float | None
    battery_mah: int | None
    watchdog_s: float
    min_gap_s: float
    auto_off_default_s: int
    auto_off_max_s: int
    button: bool = False
    electrical: bool = False  #: EMS/TENS pads rather than motors

    def mode_for(self, waveform: Waveform, period_s: float) -> ModeSpec:
        """The mode that best plays ``waveform`` at ``period_s``.

        Prefer the same waveform with the closest period; a CONSTANT mode when
        nothing better exists; the first mode otherwise.
        """
        same = [m for m in self.modes if m.waveform is waveform]
        if same:
            return min(same, key=lambda m: (abs(m.period_s - period_s), m.value))
        steady = [m for m in self.modes if m.waveform is Waveform.CONSTANT]
        return (steady or list(self.modes))[0]

    def heat_level_for(self, target_c: float) -> HeatLevel | None:
        """The hottest level not above ``target_c`` (``None`` if every level is hotter)."""
        fitting = [h for h in self.heat_levels if h.temperature_c <= target_c + 1e-9]
        return max(fitting, key=lambda h: h.temperature_c) if fitting else None


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceProfile:
    """One device family."""

    id: str  #: the file name without ``.toml``
    name: str  #: human-readable family name
    protocol: str  #: a registered protocol's name (:mod:`massager_sdk.protocols.registry`)
    match: tuple[MatchRule, ...]
    gatt: GattEndpoints | None
    serial: SerialParameters | None
    #: ``None``: the device reports its own (a self-describing protocol's INFO)
    device: ProfileCapabilities | None
    options: Mapping[str, Any]  #: protocol-specific settings (data point ids...)
    source: str = ""  #: where it was loaded from

    def capabilities(self, serial: str = "", firmware: str = "") -> DeviceCapabilities:
        """The capabilities a device of this family has.

        Raises ``ValueError`` for a profile whose devices report their own.
        """
        caps = self.device
        if caps is None:
            raise ValueError(
                f"profile {self.id!r} ({self.protocol}) has no capabilities: "
                "its devices report their own"
            )
        heat = None
        if caps.heat_levels and caps.heat_limit_c is not None:
            heat = HeatCapability(
                targets_c=tuple(sorted(h.temperature_c for h in caps.heat_levels)),
                limit_c=caps.heat_limit_c,
            )
        return DeviceCapabilities(
            model=caps.model,
            serial=serial,
            firmware=firmware,
            protocol=self.protocol,
            zones=tuple(Zone(i, z.name, z.position) for i, z in enumerate(caps.zones)),
            intensity_steps=caps.intensity_steps,
            heat=heat,
            battery_mah=caps.battery_mah,
            pattern_slots=0,
            pattern_max_steps=0,
            min_gap_s=caps.min_gap_s,
            watchdog_s=caps.watchdog_s,
            auto_off_default_s=caps.auto_off_default_s,
            auto_off_max_s=caps.auto_off_max_s,
            has_button=caps.button,
            has_temperature_sensor=False,
            electrical=caps.electrical,
        )
