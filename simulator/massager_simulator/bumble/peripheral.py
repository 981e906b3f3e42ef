"""A simulated device as a BLE peripheral on a bumble host stack."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bumble import hci
from bumble.att import ATT_Error, ErrorCode
from bumble.device import (
    AdvertisingEventProperties,
    AdvertisingParameters,
    AdvertisingSet,
    AdvertisingType,
    Connection,
    Device,
)
from bumble.gatt import Characteristic, CharacteristicValue, Service
from massager_protocols.nmp.gatt import BATTERY_LEVEL_CHAR_UUID, BATTERY_SERVICE_UUID

from massager_simulator.ble import MAX_ATT_MTU, device_gatt_profile, legacy_advertisement
from massager_simulator.device import SimulatedDevice
from massager_simulator.link import LinkEnd

#: ATT header bytes of a notification: the payload is at most MTU minus this.
ATT_HEADER = 3
#: How often the device advertises (milliseconds); BLE allows 20 ms and up.
DEFAULT_ADVERTISING_INTERVAL_MS = 20.0


def _refuse(code: ErrorCode) -> Any:
    """An attribute callback that answers with ATT error ``code``.

    bumble's GATT server does not enforce attribute permissions, so a
    characteristic that must not be read or written says so itself.
    """

    def refuse(connection: Connection, *value: Any) -> Any:
        raise ATT_Error(code)

    return refuse


class BumblePeripheral:
    """Serves ``sim``'s GATT face on ``device`` (a bumble host) and advertises it.

    The GATT face is the device's personality's (NMP/1's without one): the
    write characteristic takes the host's bytes (write and write without
    response), the notify characteristic carries the device's bytes in
    notifications of at most ATT MTU - 3 bytes, and a device with a battery
    offers the Battery Service. The device advertises, with the layout of
    :func:`massager_simulator.ble.legacy_advertisement`, while it runs and
    no central is connected; one central at a time.

    ``extended``: advertise the advertising data and the scan response in one
    connectable extended advertisement, for bumble's in-process link, which
    repeats the advertisement in place of the scan response. ``max_mtu``: the
    largest ATT MTU the device accepts in an MTU exchange.
    """

    def __init__(
        self,
        sim: SimulatedDevice,
        device: Device,
        *,
        name: str | None = None,
        max_mtu: int = MAX_ATT_MTU,
        extended: bool = False,
        advertising_interval_ms: float = DEFAULT_ADVERTISING_INTERVAL_MS,
    ) -> None:
        if not 23 <= max_mtu <= MAX_ATT_MTU:
            raise ValueError(f"ATT MTU {max_mtu} outside 23..{MAX_ATT_MTU}")
        self.sim = sim
        self.device = device
        self.gatt = device_gatt_profile(sim, name)
        self.extended = extended
        self.advertising_interval_ms = advertising_interval_ms
        #: Why the last connection ended (an HCI error code), once one has.
        self.last_disconnect_reason: int | None = None
        self._max_mtu = max_mtu
        self._connection: Connection | None = None
        self._link: LinkEnd | None = None
        self._pump: asyncio.Task[None] | None = None
        self._advertising_set: AdvertisingSet | None = None
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        #: The characteristic the host writes to (its "write" event sees each write).
        self.rx = Characteristic(
            self.gatt.write_uuid,
            Characteristic.Properties.WRITE | Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            Characteristic.Permissions.WRITEABLE,
            CharacteristicValue(read=_refuse(ErrorCode.READ_NOT_PERMITTED), write=self._written),
        )
        #: The characteristic whose notifications carry the device's bytes.
        self.tx = Characteristic(
            self.gatt.notify_uuid,
            Characteristic.Properties.NOTIFY,
            Characteristic.Permissions(0),
            CharacteristicValue(
                read=_refuse(ErrorCode.READ_NOT_PERMITTED),
                write=_refuse(ErrorCode.WRITE_NOT_PERMITTED),
            ),
        )
        services = [Service(self.gatt.service_uuid, [self.rx, self.tx])]
        if sim.model.battery is not None:
            level = Characteristic(
                BATTERY_LEVEL_CHAR_UUID,
                Characteristic.Properties.READ,
                Characteristic.Permissions.READABLE,
                CharacteristicValue(
                    read=self._battery_level, write=_refuse(ErrorCode.WRITE_NOT_PERMITTED)
                ),
            )
            services.append(Service(BATTERY_SERVICE_UUID, [level]))
        self._services = services

    @property
    def connection(self) -> Connection | None:
        """The connected central's connection, if any."""
        return self._connection

    @property
    def address(self) -> str:
        """The Bluetooth address the device advertises with (a static random one)."""
        return str(self.device.random_address).split("/")[0]

    async def start(self) -> None:
        """Power the host on (if needed), serve the GATT face and start advertising."""
        self.device.gatt_server.max_mtu = self._max_mtu
        self.device.add_services(self._services)
        self.device.on(self.device.EVENT_CONNECTION, self._connected)
        if not self.device.powered_on:
            await self.device.power_on()
        await self._advertise()

    async def stop(self) -> None:
        """Stop advertising and drop the connection (the device powering off)."""
        self._closing = True
        await self._stop_advertising()
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(hci.HCI_Error, asyncio.TimeoutError):
                await connection.disconnect(
                    hci.HCI_REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_POWER_OFF_ERROR
                )
        self._drop_link()
        for task in list(self._tasks):
            task.cancel()

    # -- advertising -----------------------------------------------------------

    async def _advertise(self) -> None:
        if self._closing or not self.sim.running:
            return
        packets = legacy_advertisement(self.gatt)
        interval = self.advertising_interval_ms
        if self.extended:
            if self._advertising_set is None:
                properties = AdvertisingEventProperties(
                    is_connectable=True, is_scannable=False, is_legacy=False
                )
                self._advertising_set = await self.device.create_advertising_set(
                    advertising_parameters=AdvertisingParameters(
                        advertising_event_properties=properties,
                        primary_advertising_interval_min=interval,
                        primary_advertising_interval_max=interval,
                        own_address_type=hci.OwnAddressType.RANDOM,
                    ),
                    advertising_data=packets.advertising_data + packets.scan_response,
                    auto_start=True,
                )
            else:
                await self._advertising_set.start()
        else:
            await self.device.start_advertising(
                advertising_type=AdvertisingType.UNDIRECTED_CONNECTABLE_SCANNABLE,
                own_address_type=hci.OwnAddressType.RANDOM,
                advertising_data=packets.advertising_data,
                scan_response_data=packets.scan_response,
                advertising_interval_min=interval,
                advertising_interval_max=interval,
            )

    async def _stop_advertising(self) -> None:
        with contextlib.suppress(hci.HCI_Error):
            if self._advertising_set is not None:
                await self._advertising_set.stop()
            elif self.device.is_advertising:
                await self.device.stop_advertising()

    # -- connections -----------------------------------------------------------

    def _connected(self, connection: Connection) -> None:
        if self._connection is not None:
            # One central at a time, as the device has one BLE link.
            self._spawn(
                connection.disconnect(hci.HCI_CONNECTION_REJECTED_DUE_TO_LIMITED_RESOURCES_ERROR)
            )
            return
        try:
            link = self.sim.connect()
        except ConnectionRefusedError:
            self._spawn(
                connection.disconnect(
                    hci.HCI_REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_POWER_OFF_ERROR
                )
            )
            return
        self._connection, self._link = connection, link
        connection.on(
            connection.EVENT_DISCONNECTION, lambda reason: self._disconnected(connection, reason)
        )
        self._pump = self._spawn(self._notify_from(connection, link))

    def _disconnected(self, connection: Connection, reason: int) -> None:
        if connection is not self._connection:
            return
        self.last_disconnect_reason = reason
        self._connection = None
        self._drop_link()
        self._spawn(self._advertise())

    def _drop_link(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.close()  # the device sees its host go away
        pump, self._pump = self._pump, None
        if pump is not None and pump is not asyncio.current_task():
            pump.cancel()

    async def _notify_from(self, connection: Connection, link: LinkEnd) -> None:
        """Carry the device's bytes to the central, split to the connection's ATT MTU."""
        try:
            while True:
                chunk = await link.read()
                size = connection.att_mtu - ATT_HEADER
                for start in range(0, len(chunk), size):
                    await self.device.notify_subscriber(
                        connection, self.tx, chunk[start : start + size]
                    )
        except ConnectionResetError:
            pass
        if self._link is link and self._connection is connection:
            # The device dropped the link (a fault, or it powered off).
            reason = (
                hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR
                if self.sim.running
                else hci.HCI_REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_POWER_OFF_ERROR
            )
            with contextlib.suppress(hci.HCI_Error, asyncio.TimeoutError):
                await connection.disconnect(reason)

    async def _written(self, connection: Connection, value: Any) -> None:
        link = self._link
        if connection is not self._connection or link is None:
            raise ATT_Error(ErrorCode.UNLIKELY_ERROR)
        try:
            await link.write(bytes(value))
        except ConnectionResetError:
            raise ATT_Error(ErrorCode.UNLIKELY_ERROR) from None

    def _battery_level(self, connection: Connection) -> bytes:
        return bytes([int(self.sim.status().battery_pct or 0)])

    def _spawn(self, work: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
