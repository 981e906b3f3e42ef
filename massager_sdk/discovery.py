"""Find massagers in Bluetooth range.

    for found in await massager_sdk.scan(duration=5):
        print(found.name, found.url, found.protocol, found.profile, found.model, found.rssi)

Each advertisement is matched against the device profiles
(:func:`massager_sdk.profiles.matching.identify_advertisement`): the profile's
most specific rule wins, and a device no profile matches is still recognised
by the advertising markers its protocol registered (company ids, service
UUIDs). ``all_devices=True`` lists everything heard,
unknown devices with a summary of what they advertised.

    async for found in massager_sdk.discovery.watch(passive=True):
        print(found.name, found.model)     # each device when first heard, again when it changes

``passive=True`` listens without scan requests where the platform offers it
(BlueZ, Windows; macOS scans actively): NMP/1 devices carry their model and
name in the advertising data, so a passive scan still names them.
``adapter=`` picks the adapter (BlueZ), ``service_uuids=`` filters. Where
Bluetooth cannot be used, :class:`~massager_sdk.errors.BluetoothUnavailable`
says why.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterable

from bleak import BleakScanner
from bleak.args.bluez import OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from massager_sdk.profiles.loader import all_profiles
from massager_sdk.profiles.matching import identify_advertisement
from massager_sdk.profiles.model import DeviceProfile
from massager_sdk.transports.ble import bluetooth_errors, scanner_kwargs


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
    adapter: str | None = None,
    passive: bool = False,
    service_uuids: list[str] | None = None,
) -> list[Discovered]:
    """Listen for ``duration`` seconds; the massagers heard, strongest signal first.

    ``all_devices=True`` lists every advertiser (unrecognised ones with
    ``protocol=None`` and what they advertised in ``seen``). ``backend``
    replaces bleak's scanner backend (see
    :func:`massager_sdk.transports.ble.use_backends`); ``adapter``, ``passive``
    and ``service_uuids`` as in the module's description.
    """
    if not duration > 0:
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    kwargs = scanner_kwargs(backend, adapter=adapter, passive=passive, service_uuids=service_uuids)
    with bluetooth_errors():
        heard = await BleakScanner.discover(duration, return_adv=True, **kwargs)
    profiles = list(all_profiles().values())
    found = [
        d
        for device, adv in heard.values()
        if (d := _discovered(device, adv, profiles, all_devices)) is not None
    ]
    found.sort(key=lambda d: d.rssi, reverse=True)
    return found


async def watch(
    *,
    all_devices: bool = False,
    backend: type[BaseBleakScanner] | None = None,
    adapter: str | None = None,
    passive: bool = False,
    service_uuids: list[str] | None = None,
) -> AsyncIterator[Discovered]:
    """Scan until the caller stops iterating: each device when first heard, and
    again when what it advertises changes (name, protocol, profile, model);
    signal strength alone does not count as a change."""
    queue: asyncio.Queue[tuple[BLEDevice, AdvertisementData]] = asyncio.Queue()
    kwargs = scanner_kwargs(backend, adapter=adapter, passive=passive, service_uuids=service_uuids)
    profiles = list(all_profiles().values())
    last: dict[str, tuple[object, ...]] = {}
    scanner = BleakScanner(lambda d, a: queue.put_nowait((d, a)), **kwargs)
    with bluetooth_errors():
        await scanner.start()
    try:
        while True:
            device, adv = await queue.get()
            found = _discovered(device, adv, profiles, all_devices)
            if found is None:
                continue
            key = (found.name, found.protocol, found.profile, found.model)
            if last.get(found.address) != key:
                last[found.address] = key
                yield found
    finally:
        await scanner.stop()


def passive_patterns() -> list[OrPattern]:
    """What a passive BlueZ scan listens for: every profile's manufacturer data
    (company id and prefix) and 16-bit service data."""
    patterns: list[OrPattern] = []
    for profile in all_profiles().values():
        for rule in profile.match:
            for data in rule.manufacturer:
                value = int(data.key).to_bytes(2, "little") + bytes(data.prefix)
                patterns.append(
                    OrPattern(0, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, value)
                )
            for data in rule.service_data:
                uuid = str(data.key).lower()
                if uuid.startswith("0000") and uuid.endswith("-0000-1000-8000-00805f9b34fb"):
                    value = bytes.fromhex(uuid[4:8])[::-1] + bytes(data.prefix)
                    patterns.append(OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, value))
    return list(dict.fromkeys(patterns))


def _discovered(
    device: BLEDevice,
    adv: AdvertisementData,
    profiles: Iterable[DeviceProfile],
    all_devices: bool,
) -> Discovered | None:
    match = identify_advertisement(adv, device.name, profiles)
    if not match.known and not all_devices:
        return None
    return Discovered(
        name=adv.local_name or device.name or device.address,
        address=device.address,
        rssi=adv.rssi,
        model=match.model,
        protocol=match.protocol,
        profile=match.profile.id if match.profile is not None else None,
        seen=match.seen,
    )
