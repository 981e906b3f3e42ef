"""bleak backends on a bumble host stack: ``BleakClient(..., backend=BumbleBleakClient)``.

A :class:`BumbleCentral` is a bumble ``Device`` playing bleak's adapter; the
backends find it by the adapter name bleak passes them (``bluez={"adapter":
"hci1"}``), else use the default one. Every GATT operation is a real ATT
exchange: the client asks for a larger MTU on connecting, discovers the
services, maps ATT errors to ``BleakGATTProtocolError`` and reports why a link
ended (:attr:`BumbleBleakClient.disconnect_reason`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from bleak.args import SizedBuffer
from bleak.assigned_numbers import gatt_char_props_to_strs
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import hci
from bumble.att import ATT_Error
from bumble.core import BaseBumbleError
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy

from massager_simulator.ble import MAX_ATT_MTU, advertisement_data

#: The adapter name of the central used when bleak names none.
DEFAULT_ADAPTER = "bumble0"
#: ATT header bytes of a write: the payload is at most MTU minus this.
ATT_HEADER = 3


class BumbleCentral:
    """A bumble host (``device``, powered on) that bleak's backends use as an adapter."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self._scanners: set[BumbleBleakScanner] = set()
        self._passive_scanners = 0

    async def start_scanning(self, scanner: BumbleBleakScanner) -> None:
        """Scan for ``scanner`` (active unless every scanner asked for passive)."""
        self._scanners.add(scanner)
        await self._rescan()

    async def stop_scanning(self, scanner: BumbleBleakScanner) -> None:
        """``scanner`` no longer listens; scanning stops with the last one."""
        self._scanners.discard(scanner)
        await self._rescan()

    async def _rescan(self) -> None:
        active = any(s.active for s in self._scanners)
        if self.device.is_scanning:
            if self._scanners and self.device.scanning_is_passive == (not active):
                return
            await self.device.stop_scanning()
        if self._scanners:
            await self.device.start_scanning(active=active, filter_duplicates=False)

    def heard(self, advertisement: Advertisement) -> None:
        """An advertisement arrived: every listening scanner gets it."""
        for scanner in list(self._scanners):
            scanner.heard(self, advertisement)


_CENTRALS: dict[str, BumbleCentral] = {}


def register_central(device: Device, adapter: str = DEFAULT_ADAPTER) -> BumbleCentral:
    """Make the powered-on bumble ``device`` bleak's adapter named ``adapter``."""
    central = BumbleCentral(device)
    device.on(device.EVENT_ADVERTISEMENT, central.heard)
    _CENTRALS[adapter] = central
    return central


def unregister_central(adapter: str = DEFAULT_ADAPTER) -> None:
    """Forget the adapter (no error if there is none)."""
    central = _CENTRALS.pop(adapter, None)
    if central is not None:
        central.device.remove_listener(central.device.EVENT_ADVERTISEMENT, central.heard)


def _central(adapter: str | None) -> BumbleCentral:
    name = adapter or DEFAULT_ADAPTER
    central = _CENTRALS.get(name)
    if central is None:
        known = ", ".join(sorted(_CENTRALS)) or "none"
        raise BleakError(f"no bumble adapter {name!r} (registered: {known})")
    return central


def _address(text: str) -> str:
    return text.upper()


class BumbleBleakScanner(BaseBleakScanner):
    """A bleak scanner backend that listens through a bumble central."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        *,
        bluez: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self.active = scanning_mode != "passive"
        self._adapter = (bluez or {}).get("adapter")
        self._central: BumbleCentral | None = None

    async def start(self) -> None:
        """Start scanning."""
        if self._central is not None:
            raise BleakError("the scanner is already scanning")
        self.seen_devices = {}
        self._central = _central(self._adapter)
        await self._central.start_scanning(self)

    async def stop(self) -> None:
        """Stop scanning."""
        central, self._central = self._central, None
        if central is not None:
            await central.stop_scanning(self)

    def heard(self, central: BumbleCentral, advertisement: Advertisement) -> None:
        """One advertisement (with its scan response when the central asked for one)."""
        adv = advertisement_data([bytes(advertisement.data)], advertisement.rssi)
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        address = _address(str(advertisement.address).split("/")[0])
        details = (central, advertisement.address)
        device = self.create_or_update_device(address, address, adv.local_name, details, adv)
        self.call_detection_callbacks(device, adv)


class BumbleBleakClient(BaseBleakClient):
    """A bleak client backend connecting through a bumble central.

    ``mtu``: the ATT MTU asked for in the exchange after connecting (the
    device may grant less; 23 skips the exchange).
    """

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        bluez: dict[str, Any] | None = None,
        mtu: int = MAX_ATT_MTU,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._peer_address: hci.Address | None = None
        self._central_hint: BumbleCentral | None = None
        if isinstance(address_or_ble_device, BLEDevice) and isinstance(
            address_or_ble_device.details, tuple
        ):
            self._central_hint, self._peer_address = address_or_ble_device.details
        self._adapter = (bluez or {}).get("adapter")
        self._requested_mtu = mtu
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._mtu = 23
        self._name = (
            address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._subscriptions: dict[int, Callable[[bytes], None]] = {}
        #: Why the last connection ended (an HCI error code), once one has.
        self.disconnect_reason: int | None = None

    @property
    def name(self) -> str:
        """The device's name as last advertised (else its address)."""
        return self._name or self.address

    @property
    def mtu_size(self) -> int:
        """The ATT MTU the exchange settled on."""
        return self._mtu

    @property
    def is_connected(self) -> bool:
        """Whether the link is up."""
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect, exchange the MTU and discover the services."""
        if self._connection is not None:
            return
        central = (
            self._central_hint
            if self._adapter is None and self._central_hint
            else _central(self._adapter)
        )
        # Without an advertisement, take the address for a static random one.
        peer_address = self._peer_address or hci.Address(
            self.address, hci.Address.RANDOM_DEVICE_ADDRESS
        )
        try:
            connection = await central.device.connect(peer_address, timeout=self._timeout)
        except TimeoutError as exc:
            raise BleakDeviceNotFoundError(
                self.address, f"{self.address} did not answer within {self._timeout:g} s"
            ) from exc
        except (hci.HCI_Error, BaseBumbleError) as exc:
            raise BleakError(f"connecting to {self.address} failed: {exc}") from exc
        self._connection = connection
        self.disconnect_reason = None
        connection.on(
            connection.EVENT_DISCONNECTION, lambda reason: self._disconnected(connection, reason)
        )
        try:
            peer = Peer(connection)
            if self._requested_mtu > 23:
                self._mtu = await peer.request_mtu(self._requested_mtu)
            else:
                self._mtu = 23
            self.services = await self._discover(peer)
            self._peer = peer
            if pair:
                await connection.pair()
        except BaseException:
            with contextlib.suppress(hci.HCI_Error, BaseBumbleError):
                await connection.disconnect()
            self._connection = None
            raise

    async def disconnect(self) -> None:
        """Disconnect and wait until the controller confirms it (no fixed delay)."""
        connection = self._connection
        if connection is None:
            return
        with contextlib.suppress(hci.HCI_Error, BaseBumbleError):
            await connection.disconnect()
        self._forget(connection)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pair with bumble's security manager."""
        await self._require().pair()

    async def unpair(self) -> None:
        """Not offered: bumble keeps no bonds for this backend."""
        raise NotImplementedError("the bumble backend keeps no bonds to remove")

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a characteristic's value (ATT errors raise ``BleakGATTProtocolError``)."""
        return await self._read(characteristic.handle)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a descriptor's value."""
        return await self._read(descriptor.handle)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        """Write a value: a request with ``response`` (long values in pieces), else a
        command, which must fit ``max_write_without_response_size``."""
        payload = bytes(memoryview(data))
        if not response and len(payload) > self._mtu - ATT_HEADER:
            # A write command has one packet: a real stack refuses a longer value.
            raise BleakGATTProtocolError(0x0D)
        await self._write(characteristic.handle, payload, response)

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        """Write a descriptor's value (with response)."""
        await self._write(descriptor.handle, bytes(memoryview(data)), True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Subscribe (writes the CCCD) and pass each notification's value to ``callback``."""
        peer = self._require_peer()
        proxy = characteristic.obj
        assert isinstance(proxy, CharacteristicProxy)

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._subscriptions[characteristic.handle] = on_value
        try:
            await peer.subscribe(proxy, on_value)
        except ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Unsubscribe."""
        peer = self._require_peer()
        proxy = characteristic.obj
        assert isinstance(proxy, CharacteristicProxy)
        subscriber = self._subscriptions.pop(characteristic.handle, None)
        await peer.unsubscribe(proxy, subscriber)

    # -- internals ---------------------------------------------------------------

    def _require(self) -> Connection:
        if self._connection is None:
            raise BleakError("Not connected")
        return self._connection

    def _require_peer(self) -> Peer:
        self._require()
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def _read(self, handle: int) -> bytearray:
        peer = self._require_peer()
        try:
            return bytearray(await peer.read_value(handle))
        except ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc
        except BaseBumbleError as exc:
            raise BleakError(f"reading handle {handle} failed: {exc}") from exc

    async def _write(self, handle: int, data: bytes, response: bool) -> None:
        peer = self._require_peer()
        try:
            await peer.write_value(handle, data, with_response=response)
        except ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc
        except BaseBumbleError as exc:
            raise BleakError(f"writing handle {handle} failed: {exc}") from exc

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for service in await peer.discover_services():
            bleak_service = BleakGATTService(service, service.handle, _uuid(service.uuid))
            collection.add_service(bleak_service)
            for characteristic in await peer.discover_characteristics(service=service):
                properties = sorted(gatt_char_props_to_strs(int(characteristic.properties)))
                bleak_char = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    _uuid(characteristic.uuid),
                    properties,
                    lambda: self._mtu - ATT_HEADER,
                    bleak_service,
                )
                collection.add_characteristic(bleak_char)
                for descriptor in await peer.discover_descriptors(characteristic):
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor, descriptor.handle, _uuid(descriptor.type), bleak_char
                        )
                    )
        return collection

    def _disconnected(self, connection: Connection, reason: int) -> None:
        if connection is not self._connection:
            return
        self.disconnect_reason = reason
        self._forget(connection)
        callback = self._disconnected_callback
        if callback is not None:
            asyncio.get_running_loop().call_soon(callback)

    def _forget(self, connection: Connection) -> None:
        if self._connection is connection:
            self._connection = None
            self._peer = None
            self._subscriptions.clear()


def _uuid(uuid: Any) -> str:
    """A bumble UUID as bleak writes one: 128-bit, lower case, with dashes."""
    raw = bytes(uuid.to_bytes(force_128=True))[::-1].hex()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
