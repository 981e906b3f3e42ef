"""Simulated devices as BLE peripherals, through bleak's own public API.

Register devices "in the air", then use bleak as for real hardware, with
these backends injected::

    BLE_REGISTRY.add(device, address="C0:FF:EE:00:00:01")
    async with BleakScanner(backend=SimulatedBleakScanner) as scanner: ...
    async with BleakClient("C0:FF:EE:00:00:01", backend=SimulatedBleakClient) as client:
        await client.start_notify(TX_CHAR_UUID, on_bytes)
        await client.write_gatt_char(RX_CHAR_UUID, frame, response=False)

A device advertises while it runs and no central is connected, in the legacy
layout of :func:`legacy_advertisement` (31 bytes of advertising data and 31 of
scan response): for NMP/1 the flags, the manufacturer data with the model
code and the local name in the advertisement, the 128-bit service UUID in the
scan response (see :mod:`massager_protocols.nmp.gatt`). An active scanner
hears both packets, a passive one the advertisement alone.

A connection has a fixed ATT MTU (23 unless the device was registered with
another): writes longer than MTU - 3 are refused with ATT error 0x0D as a
real stack refuses them, and the device's bytes arrive as notifications of at
most MTU - 3 bytes. When the link drops (a fault, or the device stops) the
disconnect callback fires.

For a real Bluetooth host stack under bleak, see :mod:`massager_simulator.bumble`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid as uuidlib
from collections.abc import Callable, Iterable
from typing import Any

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import (
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
    BleakGATTProtocolErrorCode,
)
from massager_protocols.nmp.gatt import (
    BATTERY_LEVEL_CHAR_UUID,
    BATTERY_SERVICE_UUID,
    DEFAULT_ATT_MTU,
    LEGACY_AD_MAX,
)

from massager_simulator.device import SimulatedDevice
from massager_simulator.link import LinkEnd
from massager_simulator.personalities.base import GattProfile
from massager_simulator.personalities.nmp import nmp_gatt_profile as nmp_gatt_profile

#: How often a registered device advertises (seconds).
ADVERTISING_INTERVAL_S = 0.1
#: The Client Characteristic Configuration descriptor.
CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"
#: ATT header bytes of a write or a notification; the payload is MTU minus this.
ATT_HEADER = 3
#: The largest ATT MTU BLE allows.
MAX_ATT_MTU = 517


#: AD types (Bluetooth Core Specification Supplement, part A, section 1).
AD_FLAGS = 0x01
AD_UUID16_COMPLETE = 0x03
AD_UUID128_COMPLETE = 0x07
AD_SHORT_NAME = 0x08
AD_COMPLETE_NAME = 0x09
AD_TX_POWER = 0x0A
AD_SERVICE_DATA16 = 0x16
AD_SERVICE_DATA128 = 0x21
AD_MANUFACTURER = 0xFF
#: LE General Discoverable, BR/EDR not supported.
FLAGS_LE_ONLY_GENERAL = 0x06
_BASE_UUID_TAIL = "-0000-1000-8000-00805f9b34fb"


def device_gatt_profile(device: SimulatedDevice, name: str | None = None) -> GattProfile:
    """The GATT face of ``device``'s personality (``name``: another local name)."""
    gatt = device.personality.gatt
    return dataclasses.replace(gatt, local_name=name) if name else gatt


def _uuid_bytes(uuid: str) -> bytes:
    """A UUID as advertised: 2 bytes for the Bluetooth base, else 16, little-endian."""
    text = uuid.lower()
    if text.startswith("0000") and text.endswith(_BASE_UUID_TAIL):
        return bytes.fromhex(text[4:8])[::-1]
    return uuidlib.UUID(text).bytes[::-1]


def _uuid_text(data: bytes) -> str:
    if len(data) == 2:
        return f"0000{data[::-1].hex()}{_BASE_UUID_TAIL}"
    return str(uuidlib.UUID(bytes=bytes(data[::-1])))


def ad_structure(ad_type: int, value: bytes) -> bytes:
    """One AD structure: length, type, value."""
    return bytes([len(value) + 1, ad_type]) + value


@dataclasses.dataclass(frozen=True, slots=True)
class LegacyAdvertisement:
    """What a device sends with legacy advertising: two packets of at most 31 bytes."""

    advertising_data: bytes
    scan_response: bytes


def legacy_advertisement(gatt: GattProfile) -> LegacyAdvertisement:
    """Lay ``gatt``'s advertisement out for legacy advertising.

    In order, each AD structure goes into the advertising data if it fits,
    else into the scan response: flags, service data, manufacturer data, the
    complete local name, the service UUIDs. So what identifies a device (its
    service or manufacturer data, with NMP/1's model code, and its name) is
    heard by a passive scanner, which never asks for the scan response. A name
    not fitting the advertising data is advertised there shortened. Raises
    ``ValueError`` when a structure fits nowhere.
    """
    name = gatt.local_name.encode("utf-8")
    wanted: list[tuple[str, bytes]] = [
        ("flags", ad_structure(AD_FLAGS, bytes([FLAGS_LE_ONLY_GENERAL])))
    ]
    for uuid, data in gatt.service_data.items():
        raw = _uuid_bytes(uuid)
        kind = AD_SERVICE_DATA16 if len(raw) == 2 else AD_SERVICE_DATA128
        wanted.append((f"service data {uuid}", ad_structure(kind, raw + data)))
    for company, data in gatt.manufacturer_data.items():
        wanted.append(
            (
                f"manufacturer data 0x{company:04X}",
                ad_structure(AD_MANUFACTURER, company.to_bytes(2, "little") + data),
            )
        )
    if name:
        wanted.append(("local name", ad_structure(AD_COMPLETE_NAME, name)))
    short = [u for u in gatt.service_uuids if len(_uuid_bytes(u)) == 2]
    long = [u for u in gatt.service_uuids if len(_uuid_bytes(u)) == 16]
    if short:
        wanted.append(
            ("16-bit services", ad_structure(AD_UUID16_COMPLETE, b"".join(map(_uuid_bytes, short))))
        )
    if long:
        wanted.append(
            (
                "128-bit services",
                ad_structure(AD_UUID128_COMPLETE, b"".join(map(_uuid_bytes, long))),
            )
        )
    adv, scan = bytearray(), bytearray()
    for what, structure in wanted:
        if len(adv) + len(structure) <= LEGACY_AD_MAX:
            adv += structure
        elif what == "local name" and LEGACY_AD_MAX - len(adv) > 2:
            # The name belongs with what a passive scanner hears, even shortened.
            adv += ad_structure(AD_SHORT_NAME, name[: LEGACY_AD_MAX - len(adv) - 2])
        elif len(scan) + len(structure) <= LEGACY_AD_MAX:
            scan += structure
        else:
            raise ValueError(
                f"the {what} ({len(structure)} bytes) fits neither the advertising data "
                f"({len(adv)} of {LEGACY_AD_MAX} used) nor the scan response "
                f"({len(scan)} of {LEGACY_AD_MAX} used)"
            )
    return LegacyAdvertisement(bytes(adv), bytes(scan))


def parse_ad_structures(data: bytes) -> list[tuple[int, bytes]]:
    """The ``(type, value)`` pairs of advertising data; ``ValueError`` when malformed."""
    found: list[tuple[int, bytes]] = []
    at = 0
    while at < len(data):
        length = data[at]
        if length == 0:  # the rest is padding
            break
        if at + 1 + length > len(data):
            raise ValueError(f"AD structure at byte {at} runs past the end ({length} bytes)")
        found.append((data[at + 1], bytes(data[at + 2 : at + 1 + length])))
        at += 1 + length
    return found


def advertisement_data(packets: Iterable[bytes], rssi: int) -> AdvertisementData:
    """bleak's ``AdvertisementData`` of the AD structures in ``packets`` (merged, as
    an active scanner reports the advertisement and its scan response)."""
    name: str | None = None
    manufacturer: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    services: list[str] = []
    tx_power: int | None = None
    for packet in packets:
        for ad_type, value in parse_ad_structures(packet):
            if ad_type == AD_COMPLETE_NAME or (ad_type == AD_SHORT_NAME and name is None):
                name = value.decode("utf-8", errors="replace")
            elif ad_type == AD_MANUFACTURER and len(value) >= 2:
                manufacturer[int.from_bytes(value[:2], "little")] = value[2:]
            elif ad_type in (AD_SERVICE_DATA16, AD_SERVICE_DATA128):
                size = 2 if ad_type == AD_SERVICE_DATA16 else 16
                if len(value) >= size:
                    service_data[_uuid_text(value[:size])] = value[size:]
            elif ad_type in (AD_UUID16_COMPLETE, AD_UUID128_COMPLETE):
                size = 2 if ad_type == AD_UUID16_COMPLETE else 16
                for i in range(0, len(value) - size + 1, size):
                    if (uuid := _uuid_text(value[i : i + size])) not in services:
                        services.append(uuid)
            elif ad_type == AD_TX_POWER and len(value) == 1:
                tx_power = int.from_bytes(value, signed=True)
    return AdvertisementData(
        local_name=name,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=services,
        tx_power=tx_power,
        rssi=rssi,
        platform_data=(),
    )


@dataclasses.dataclass
class BleEntry:
    """A device in the air."""

    device: SimulatedDevice
    address: str
    name: str
    rssi: int = -60
    mtu: int = DEFAULT_ATT_MTU
    #: The connected central's client, if any (a peripheral serves one at a time).
    central: SimulatedBleakClient | None = None

    @property
    def gatt(self) -> GattProfile:
        """The device's GATT face and advertisement, under the registered name."""
        return device_gatt_profile(self.device, self.name)

    def packets(self) -> LegacyAdvertisement:
        """The advertising data and scan response the device sends."""
        return legacy_advertisement(self.gatt)

    def advertisement(self, *, active: bool = True) -> AdvertisementData:
        """What a scanner hears: both packets when ``active``, else the advertising data."""
        packets = self.packets()
        heard = [packets.advertising_data]
        if active:
            heard.append(packets.scan_response)
        return advertisement_data(heard, self.rssi)

    @property
    def advertising(self) -> bool:
        """Whether it is advertising now: powered on and not connected."""
        return self.device.running and self.central is None


class BleRegistry:
    """Which simulated devices are "in the air", by Bluetooth address."""

    def __init__(self) -> None:
        self._entries: dict[str, BleEntry] = {}

    def add(
        self,
        device: SimulatedDevice,
        *,
        address: str | None = None,
        name: str | None = None,
        rssi: int = -60,
        mtu: int = DEFAULT_ATT_MTU,
    ) -> BleEntry:
        """Put ``device`` in the air. ``address`` defaults to ``device.address``,
        ``name`` to its personality's local name; ``mtu`` is the ATT MTU its links negotiate."""
        address = address or device.address
        if not address:
            raise ValueError("a BLE device needs an address: pass address= or set device.address")
        if not DEFAULT_ATT_MTU <= mtu <= MAX_ATT_MTU:
            raise ValueError(f"ATT MTU {mtu} outside {DEFAULT_ATT_MTU}..{MAX_ATT_MTU}")
        key = address.upper()
        if key in self._entries and self._entries[key].device is not device:
            raise ValueError(f"address {key} is already taken by another simulated device")
        default_name = device.personality.gatt.local_name
        entry = BleEntry(device, key, name or default_name, rssi, mtu)
        self._entries[key] = entry
        if device.address is None:
            device.address = key
        return entry

    def remove(self, address: str) -> None:
        """Take a device out of the air (no error if it is not there)."""
        self._entries.pop(address.upper(), None)

    def clear(self) -> None:
        """Take every device out of the air."""
        self._entries.clear()

    def get(self, address: str) -> BleEntry | None:
        """The entry with this address, or ``None``."""
        return self._entries.get(address.upper())

    def entries(self) -> list[BleEntry]:
        """Every device in the air."""
        return list(self._entries.values())


#: The devices the simulated backends see.
BLE_REGISTRY = BleRegistry()


class SimulatedBleakScanner(BaseBleakScanner):
    """A bleak scanner backend that hears the registered simulated devices."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        *,
        registry: BleRegistry | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._registry = BLE_REGISTRY if registry is None else registry
        self._active = scanning_mode != "passive"
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start hearing advertisements."""
        if self._task is not None:
            raise BleakError("the scanner is already scanning")
        self.seen_devices = {}
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        """Stop hearing advertisements."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self) -> None:
        while True:
            for entry in self._registry.entries():
                if not entry.advertising:
                    continue
                adv = entry.advertisement(active=self._active)
                if not self.is_allowed_uuid(adv.service_uuids):
                    continue
                device = self.create_or_update_device(
                    entry.address, entry.address, entry.name, entry, adv
                )
                self.call_detection_callbacks(device, adv)
            await asyncio.sleep(ADVERTISING_INTERVAL_S)


class SimulatedBleakClient(BaseBleakClient):
    """A bleak client backend connected to a registered simulated device.

    Services: the NMP service (RX: write and write without response; TX:
    notify) and, on battery devices, the Battery Service (Battery Level:
    read).
    """

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        registry: BleRegistry | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._registry = BLE_REGISTRY if registry is None else registry
        self._entry: BleEntry | None = None
        self._link: LinkEnd | None = None
        self._reader: asyncio.Task[None] | None = None
        self._notify: dict[int, NotifyCallback] = {}
        self._mtu = DEFAULT_ATT_MTU
        self._rx: BleakGATTCharacteristic | None = None
        self._tx: BleakGATTCharacteristic | None = None
        self._battery: BleakGATTCharacteristic | None = None

    @property
    def name(self) -> str:
        """The device's local name."""
        entry = self._entry or self._registry.get(self.address)
        return entry.name if entry is not None else self.address

    @property
    def mtu_size(self) -> int:
        """The ATT MTU of this connection."""
        return self._mtu

    @property
    def is_connected(self) -> bool:
        """Whether the link is up."""
        return self._link is not None and not self._link.is_closed

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect to the simulated device (pairing is not needed and is ignored)."""
        if self.is_connected:
            return
        entry = self._registry.get(self.address)
        if entry is None or not entry.device.running:
            raise BleakDeviceNotFoundError(
                self.address, f"no simulated device is advertising as {self.address}"
            )
        if entry.central is not None:
            raise BleakError(f"{self.address} is already connected to another central")
        self._entry = entry
        self._mtu = entry.mtu
        self._link = entry.device.connect(mtu=entry.mtu - ATT_HEADER)
        entry.central = self
        self.services = self._build_services(entry)
        self._notify.clear()
        self._reader = asyncio.get_running_loop().create_task(self._read_link(self._link))

    async def disconnect(self) -> None:
        """Disconnect (the device sees its host go away)."""
        link, self._link = self._link, None
        if link is not None:
            link.close()
        await self._stop_reader()
        self._release()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """NMP/1 devices need no pairing; accepted and ignored."""

    async def unpair(self) -> None:
        """NMP/1 devices need no pairing; accepted and ignored."""

    async def read_gatt_char(
        self,
        characteristic: BleakGATTCharacteristic,
        *,
        use_cached: bool = False,
        **kwargs: Any,
    ) -> bytearray:
        """Read the Battery Level; the NMP characteristics are not readable."""
        self._require_connected()
        if self._battery is not None and characteristic.handle == self._battery.handle:
            assert self._entry is not None
            status = self._entry.device.status()
            return bytearray([status.battery_pct or 0])
        raise BleakGATTProtocolError(BleakGATTProtocolErrorCode.READ_NOT_PERMITTED)

    async def read_gatt_descriptor(
        self,
        descriptor: BleakGATTDescriptor,
        *,
        use_cached: bool = False,
        **kwargs: Any,
    ) -> bytearray:
        """Read a CCCD: whether notifications are on."""
        self._require_connected()
        enabled = descriptor.characteristic_handle in self._notify
        return bytearray([1 if enabled else 0, 0])

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        """Write bytes to RX (with or without response), at most MTU - 3 of them."""
        self._require_connected()
        assert self._link is not None and self._rx is not None
        if characteristic.handle != self._rx.handle:
            raise BleakGATTProtocolError(BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED)
        payload = bytes(memoryview(data))
        if len(payload) > self._mtu - ATT_HEADER:
            # A real stack refuses an attribute value longer than the ATT MTU allows.
            raise BleakGATTProtocolError(BleakGATTProtocolErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH)
        try:
            await self._link.write(payload)
        except ConnectionResetError:
            raise BleakError("Not connected") from None

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        """Writing descriptors directly is refused; use start_notify/stop_notify."""
        self._require_connected()
        raise BleakGATTProtocolError(BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED)

    async def start_notify(
        self,
        characteristic: BleakGATTCharacteristic,
        callback: NotifyCallback,
        **kwargs: Any,
    ) -> None:
        """Turn on notifications of TX."""
        self._require_connected()
        if "notify" not in characteristic.properties:
            raise BleakError(f"characteristic {characteristic.uuid} does not notify")
        self._notify[characteristic.handle] = callback

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Turn off notifications of TX."""
        self._require_connected()
        self._notify.pop(characteristic.handle, None)

    # -- internals --------------------------------------------------------

    def _require_connected(self) -> None:
        if not self.is_connected:
            raise BleakError("Not connected")

    def _build_services(self, entry: BleEntry) -> BleakGATTServiceCollection:
        payload = entry.mtu - ATT_HEADER
        services = BleakGATTServiceCollection()
        # The personality brings its service and characteristics.
        gatt = entry.device.personality.gatt
        service_uuid, rx_uuid, tx_uuid = gatt.service_uuid, gatt.write_uuid, gatt.notify_uuid
        nmp = BleakGATTService(None, 1, service_uuid)
        services.add_service(nmp)
        self._rx = BleakGATTCharacteristic(
            None, 2, rx_uuid, ["write", "write-without-response"], lambda: payload, nmp
        )
        services.add_characteristic(self._rx)
        self._tx = BleakGATTCharacteristic(None, 4, tx_uuid, ["notify"], lambda: payload, nmp)
        services.add_characteristic(self._tx)
        services.add_descriptor(BleakGATTDescriptor(None, 5, CCCD_UUID, self._tx))
        self._battery = None
        if entry.device.model.battery is not None:
            battery = BleakGATTService(None, 16, BATTERY_SERVICE_UUID)
            services.add_service(battery)
            self._battery = BleakGATTCharacteristic(
                None, 18, BATTERY_LEVEL_CHAR_UUID, ["read"], lambda: payload, battery
            )
            services.add_characteristic(self._battery)
        return services

    async def _read_link(self, link: LinkEnd) -> None:
        tx = self._tx
        assert tx is not None
        try:
            while True:
                chunk = await link.read()
                callback = self._notify.get(tx.handle)
                if callback is not None:  # without a subscription a peripheral sends nothing
                    callback(bytearray(chunk))
        except ConnectionResetError:
            pass
        if self._link is link:
            # The link dropped under us: an unsolicited disconnect.
            self._link = None
            self._release()
            on_disconnect = self._disconnected_callback
            if on_disconnect is not None:
                asyncio.get_running_loop().call_soon(on_disconnect)

    async def _stop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    def _release(self) -> None:
        entry = self._entry
        if entry is not None and entry.central is self:
            entry.central = None
