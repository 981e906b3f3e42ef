"""Find massagers in Bluetooth range.

    for found in await massager_sdk.scan(duration=5):
        print(found.name, found.url, found.model, found.rssi)

A massager is recognised by its advertisement: NMP manufacturer data (protocol
version and model) or the NMP service UUID.
"""

from __future__ import annotations

import dataclasses

from bleak import BleakScanner
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from massager_protocols.nmp.gatt import COMPANY_ID, SERVICE_UUID, parse_manufacturer_data

from massager_sdk.transports.ble import scanner_kwargs


@dataclasses.dataclass(frozen=True, slots=True)
class Discovered:
    """A device heard advertising."""

    name: str
    address: str
    rssi: int
    model: str | None  #: the model named in the advertisement, when it names one
    protocol: str | None  #: ``"nmp1"`` for an NMP/1 massager; ``None`` when not recognised

    @property
    def url(self) -> str:
        """The device URL to pass to :func:`massager_sdk.connect`."""
        return f"ble://{self.address}"


def match_advertisement(adv: AdvertisementData) -> tuple[str | None, str] | None:
    """``(model, protocol)`` of a massager's advertisement, or ``None`` for anything else."""
    data = adv.manufacturer_data.get(COMPANY_ID)
    if data is not None:
        parsed = parse_manufacturer_data(data)
        if parsed is not None:
            version, model = parsed
            return model or None, f"nmp{version}"
    if SERVICE_UUID in (uuid.lower() for uuid in adv.service_uuids):
        return None, "nmp1"
    return None


async def scan(
    duration: float = 5.0,
    *,
    all_devices: bool = False,
    backend: type[BaseBleakScanner] | None = None,
) -> list[Discovered]:
    """Listen for ``duration`` seconds; the massagers heard, strongest signal first.

    ``all_devices=True`` lists every advertiser (unrecognised ones with
    ``protocol=None``). ``backend`` replaces bleak's scanner backend (see
    :func:`massager_sdk.transports.ble.use_backends`).
    """
    if not duration > 0:
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    heard = await BleakScanner.discover(duration, return_adv=True, **scanner_kwargs(backend))
    found: list[Discovered] = []
    for device, adv in heard.values():
        match = match_advertisement(adv)
        if match is None and not all_devices:
            continue
        model, protocol = match if match is not None else (None, None)
        found.append(
            Discovered(
                name=adv.local_name or device.name or device.address,
                address=device.address,
                rssi=adv.rssi,
                model=model,
                protocol=protocol,
            )
        )
    found.sort(key=lambda d: d.rssi, reverse=True)
    return found
