"""Find massagers in Bluetooth range.

    for found in await massager_sdk.scan(duration=5):
        print(found.name, found.url, found.protocol, found.profile, found.model, found.rssi)

Each advertisement is matched against the device profiles
(:func:`massager_sdk.profiles.matching.identify_advertisement`): the profile's
most specific rule wins, and a device no profile matches is still recognised
by the advertising markers its protocol registered (company ids, service
UUIDs). ``all_devices=True`` lists everything heard,
unknown devices with a summary of what they advertised.
"""

from __future__ import annotations

import dataclasses

from bleak import BleakScanner
from bleak.backends.scanner import BaseBleakScanner

from massager_sdk.profiles.loader import all_profiles
from massager_sdk.profiles.matching import identify_advertisement
from massager_sdk.transports.ble import scanner_kwargs


@dataclasses.dataclass(frozen=True, slots=True)
class Discovered:
    """A device heard advertising."""

    name: str
    address: str
    rssi: int
    model: str | None  #: the model, when the profile or the advertisement names it
    protocol: str | None  #: the protocol's registered name; ``None`` when not recognised
    profile: str | None = None  #: the id of the device profile it matched, if any
    #: What was heard, in short: ``name 'HM-10', services [ffe0], mfr 0x004C=0215``.
    seen: str = ""

    @property
    def url(self) -> str:
        """The device URL to pass to :func:`massager_sdk.connect`."""
        return f"ble://{self.address}"

    @property
    def known(self) -> bool:
        """Whether it is a massager this SDK can talk to (its protocol is known)."""
        return self.protocol is not None


async def scan(
    duration: float = 5.0,
    *,
    all_devices: bool = False,
    backend: type[BaseBleakScanner] | None = None,
) -> list[Discovered]:
    """Listen for ``duration`` seconds; the massagers heard, strongest signal first.

    ``all_devices=True`` lists every advertiser (unrecognised ones with
    ``protocol=None`` and what they advertised in ``seen``). ``backend``
    replaces bleak's scanner backend (see
    :func:`massager_sdk.transports.ble.use_backends`).
    """
    if not duration > 0:
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    heard = await BleakScanner.discover(duration, return_adv=True, **scanner_kwargs(backend))
    profiles = list(all_profiles().values())
    found: list[Discovered] = []
    for device, adv in heard.values():
        match = identify_advertisement(adv, device.name, profiles)
        if not match.known and not all_devices:
            continue
        found.append(
            Discovered(
                name=adv.local_name or device.name or device.address,
                address=device.address,
                rssi=adv.rssi,
                model=match.model,
                protocol=match.protocol,
                profile=match.profile.id if match.profile is not None else None,
                seen=match.seen,
            )
        )
    found.sort(key=lambda d: d.rssi, reverse=True)
    return found
