"""Recognising devices from their advertisements, with the device profiles.

    match = identify_advertisement(adv, name=device.name)
    match.profile      # the DeviceProfile, or None
    match.protocol     # the protocol's name, or None for an unknown device
    match.seen         # what was heard, for listing an unknown device

A profile's most specific rule wins (manufacturer or service data beats a
service UUID beats a name). When no profile matches, the advertising markers
of the registered protocols (:class:`~massager_sdk.protocols.registry.Markers`)
still tell the protocol, with no profile.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from massager_sdk.profiles.loader import all_profiles
from massager_sdk.profiles.model import DeviceProfile
from massager_sdk.protocols.registry import all_protocols, find_protocol


@dataclasses.dataclass(frozen=True, slots=True)
class Match:
    """What an advertisement says about the device."""

    profile: DeviceProfile | None
    protocol: str | None  #: ``None``: not a massager this SDK knows
    model: str | None  #: the model, when the profile or the advertisement names it
    seen: (
        str  #: the advertisement in short, e.g. ``name 'EMS-01', services [ffe0], mfr 0x6879=0103``
    )

    @property
    def known(self) -> bool:
        """Whether the protocol is known."""
        return self.protocol is not None


def _short_uuid(uuid: str) -> str:
    if uuid.endswith("-0000-1000-8000-00805f9b34fb") and uuid.startswith("0000"):
        return uuid[4:8]
    return uuid


def describe(
    name: str,
    services: Iterable[str],
    manufacturer: Mapping[int, bytes],
    service_data: Mapping[str, bytes],
) -> str:
    """A one-line summary of an advertisement."""
    parts = [f"name {name!r}" if name else "no name"]
    uuids = sorted(_short_uuid(s.lower()) for s in services)
    if uuids:
        parts.append(f"services [{', '.join(uuids)}]")
    for company, data in sorted(manufacturer.items()):
        parts.append(f"mfr 0x{company:04X}={bytes(data).hex()}")
    for uuid, data in sorted(service_data.items()):
        parts.append(f"data {_short_uuid(uuid.lower())}={bytes(data).hex()}")
    return ", ".join(parts)


def identify(
    name: str,
    services: Iterable[str] = (),
    manufacturer: Mapping[int, bytes] | None = None,
    service_data: Mapping[str, bytes] | None = None,
    profiles: Iterable[DeviceProfile] | None = None,
) -> Match:
    """Match an advertisement's fields against the profiles (default: all of them)."""
    manufacturer = manufacturer or {}
    data = {k.lower(): v for k, v in (service_data or {}).items()}
    uuids = frozenset(s.lower() for s in services)
    seen = describe(name, uuids, manufacturer, data)
    candidates = list(all_profiles().values()) if profiles is None else list(profiles)
    best: tuple[int, DeviceProfile] | None = None
    for profile in candidates:
        for rule in profile.match:
            if rule.matches(name, uuids, manufacturer, data) and (
                best is None or rule.weight > best[0]
            ):
                best = (rule.weight, profile)
    if best is not None:
        profile = best[1]
        model: str | None
        if profile.device is not None:
            model = profile.device.model
        else:
            spec = find_protocol(profile.protocol)
            model = _advertised_model(spec.model_from_advertisement, manufacturer) if spec else None
        return Match(profile, profile.protocol, model, seen)
    for spec in all_protocols().values():
        if spec.markers.seen_in(manufacturer, uuids, data):
            model = _advertised_model(spec.model_from_advertisement, manufacturer)
            return Match(None, spec.name, model, seen)
    return Match(None, None, None, seen)


def _advertised_model(
    parse: Callable[[Mapping[int, bytes]], str | None] | None, manufacturer: Mapping[int, bytes]
) -> str | None:
    return parse(manufacturer) if parse is not None else None


def identify_advertisement(
    adv: Any, name: str | None = None, profiles: Iterable[DeviceProfile] | None = None
) -> Match:
    """:func:`identify` for a bleak ``AdvertisementData`` (``name``: the device's, if
    the advertisement carries none; ``profiles``: default all of them)."""
    return identify(
        adv.local_name or name or "",
        adv.service_uuids,
        adv.manufacturer_data,
        adv.service_data,
        profiles,
    )
