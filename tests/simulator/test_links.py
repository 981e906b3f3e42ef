"""The device reached over real links: TCP on loopback, a pseudo-terminal, and BLE via bleak."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import serial_asyncio_fast
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from massager_protocols.nmp import (
    Ack,
    GetInfo,
    GetStatus,
    Info,
    Keepalive,
    MsgType,
    SetOutput,
    Status,
    encode,
)
from massager_protocols.nmp.gatt import (
    BATTERY_LEVEL_CHAR_UUID,
    COMPANY_ID,
    RX_CHAR_UUID,
    SERVICE_UUID,
    TX_CHAR_UUID,
    parse_manufacturer_data,
)
from massager_simulator import FaultConfig, SimulatedDevice, clock, open_pty, serve_tcp
from massager_simulator.ble import (
    BLE_REGISTRY,
    BleRegistry,
    SimulatedBleakClient,
    SimulatedBleakScanner,
)

from tests.simulator.nmp_host import NmpHost, StreamLink, virtual

GUARD_S = 10.0  # a hang guard only


async def until(condition: object, guard_s: float = GUARD_S) -> None:
    """Wait (polling) until ``condition()`` holds."""
    assert callable(condition)
    async with asyncio.timeout(guard_s):
        while not condition():  # noqa: ASYNC110 - device state has no event to wait on
            await asyncio.sleep(0.01)


# --------------------------------------------------------------------------- TCP


def test_tcp_link_speaks_nmp_and_a_closed_connection_stops_the_device() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            server, port = await serve_tcp(device, "127.0.0.1", 0)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            host = NmpHost(StreamLink(reader, writer))
            info = await host.request(GetInfo())
            assert isinstance(info, Info) and info.model == "NMP Heat 4"
            assert await host.request(SetOutput(0b11, 4)) == Ack(MsgType.SET_OUTPUT)
            await until(lambda: device.intensities[:2] == (4, 4))
            await until(lambda: bool(host.statuses()))  # telemetry arrives over TCP too
            await host.close()
            await until(lambda: device.link_count == 0)
            assert not device.is_on
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())


def test_tcp_link_passes_through_the_same_link_faults() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4", faults=FaultConfig(drop_after_s=0.2)) as device:
            server, port = await serve_tcp(device)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            host = NmpHost(StreamLink(reader, writer))
            assert await host.request(SetOutput(0b1, 2)) == Ack(MsgType.SET_OUTPUT)
            # The link fault drops the TCP connection; the device stops.
            await asyncio.wait_for(host.closed, GUARD_S)
            assert device.link_count == 0 and not device.is_on
            await host.close()
            server.close()

    asyncio.run(scenario())


def test_a_switched_off_device_refuses_tcp_connections() -> None:
    async def scenario() -> None:
        device = SimulatedDevice("neck2")
        server, port = await serve_tcp(device)
        await device.stop()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(encode(GetInfo(), 1))
        async with asyncio.timeout(GUARD_S):
            try:
                reply = await reader.read(100)
            except ConnectionResetError:
                reply = b""
        assert reply == b""  # closed (or reset) without a reply
        writer.close()
        assert not device.running and device.link_count == 0
        server.close()

    asyncio.run(scenario())


# --------------------------------------------------------------------------- pty


def test_pty_link_through_pyserial_and_the_watchdog_when_the_host_goes_quiet() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("neck2") as device:
            path = open_pty(device)
            assert path.startswith("/dev/pts/")
            reader, writer = await serial_asyncio_fast.open_serial_connection(
                url=path, baudrate=115200
            )
            host = NmpHost(StreamLink(reader, writer))
            info = await host.request(GetInfo())
            assert isinstance(info, Info) and info.model == "NMP Neck 2"
            assert await host.request(SetOutput(0b11, 5)) == Ack(MsgType.SET_OUTPUT)
            status = await host.request(GetStatus())
            assert isinstance(status, Status)
            await host.close()
            # A UART cannot tell that the host closed the port: the watchdog stops it.
            assert device.is_on
            await until(lambda: not device.is_on, guard_s=60)
            assert device.link_count == 1  # the pty stays open for the next host

    # A faster clock: the 3 s watchdog passes in a fraction of a second.
    clock.run(scenario(), speed=20)


# --------------------------------------------------------------------------- BLE


@pytest.fixture
def in_the_air() -> Iterator[BleRegistry]:
    """The global registry, emptied after the test."""
    yield BLE_REGISTRY
    BLE_REGISTRY.clear()


class BleLink:
    """A byte link over a connected BleakClient: RX writes, TX notifications."""

    def __init__(self, client: BleakClient) -> None:
        self.client = client
        self.notifications: list[bytes] = []
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def open(self) -> None:
        await self.client.start_notify(TX_CHAR_UUID, self._on_notify)

    def _on_notify(self, _sender: object, data: bytearray) -> None:
        self.notifications.append(bytes(data))
        self._queue.put_nowait(bytes(data))

    def dropped(self) -> None:
        self._queue.put_nowait(None)

    async def write(self, data: bytes) -> None:
        size = self.client.mtu_size - 3
        for i in range(0, len(data), size):
            await self.client.write_gatt_char(RX_CHAR_UUID, data[i : i + size], response=False)

    async def read(self) -> bytes:
        chunk = await self._queue.get()
        if chunk is None:
            raise ConnectionResetError("disconnected")
        return chunk

    def close(self) -> None:
        self._queue.put_nowait(None)


def test_scanner_hears_name_service_and_manufacturer_data(in_the_air: BleRegistry) -> None:
    async def scenario() -> None:
        heat = SimulatedDevice("heat4")
        neck = SimulatedDevice("neck2", serial="N2-000777")
        async with heat, neck:
            in_the_air.add(heat, address="C0:FF:EE:00:00:01", rssi=-48)
            in_the_air.add(neck, address="c0:ff:ee:00:00:02")
            found = await BleakScanner.discover(
                timeout=1.0, return_adv=True, backend=SimulatedBleakScanner
            )
            assert set(found) == {"C0:FF:EE:00:00:01", "C0:FF:EE:00:00:02"}
            device, adv = found["C0:FF:EE:00:00:02"]
            assert device.name == adv.local_name == "NMP-N2-000777"
            assert adv.service_uuids == [SERVICE_UUID]
            assert parse_manufacturer_data(adv.manufacturer_data[COMPANY_ID]) == (1, "NMP Neck 2")
            assert found["C0:FF:EE:00:00:01"][1].rssi == -48
            # A service filter that does not match hears nothing.
            none = await BleakScanner.discover(
                timeout=0.5,
                backend=SimulatedBleakScanner,
                service_uuids=["0000180d-0000-1000-8000-00805f9b34fb"],
            )
            assert none == []
            by_name = await BleakScanner.find_device_by_name(
                "NMP-H4-000001", timeout=1.0, backend=SimulatedBleakScanner
            )
            assert by_name is not None and by_name.address == "C0:FF:EE:00:00:01"

    virtual(scenario)


def test_ble_client_gatt_session_at_the_default_mtu(in_the_air: BleRegistry) -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            in_the_air.add(device, address="C0:FF:EE:00:00:01")
            async with BleakClient("C0:FF:EE:00:00:01", backend=SimulatedBleakClient) as client:
                assert client.is_connected and client.mtu_size == 23
                rx = client.services.get_characteristic(RX_CHAR_UUID)
                tx = client.services.get_characteristic(TX_CHAR_UUID)
                assert rx is not None and tx is not None
                assert set(rx.properties) == {"write", "write-without-response"}
                assert tx.properties == ["notify"]
                assert rx.max_write_without_response_size == 20
                level = await client.read_gatt_char(BATTERY_LEVEL_CHAR_UUID)
                assert level == bytearray([100])

                link = BleLink(client)
                await link.open()
                host = NmpHost(link)
                info = await host.request(GetInfo())
                assert isinstance(info, Info) and len(encode(info, 1)) > 20
                assert max(len(n) for n in link.notifications) == 20
                assert await host.request(SetOutput(0b1, 3)) == Ack(MsgType.SET_OUTPUT)
                # With response, too.
                await client.write_gatt_char(RX_CHAR_UUID, encode(Keepalive(), 200), response=True)
                # A write longer than MTU - 3 is refused by the stack, and nothing is applied.
                with pytest.raises(BleakGATTProtocolError) as refused:
                    await client.write_gatt_char(RX_CHAR_UUID, bytes(21), response=False)
                assert refused.value.code == 0x0D
                # Writing TX is not permitted.
                with pytest.raises(BleakGATTProtocolError):
                    await client.write_gatt_char(TX_CHAR_UUID, b"\x00", response=True)
                assert device.is_on
            # Disconnecting is the host going away.
            assert not device.is_on and device.link_count == 0

    virtual(scenario)


def test_ble_mtu_is_configurable_per_device(in_the_air: BleRegistry) -> None:
    async def scenario() -> None:
        async with SimulatedDevice("neck2") as device:
            in_the_air.add(device, address="C0:FF:EE:00:00:09", mtu=247)
            async with BleakClient("C0:FF:EE:00:00:09", backend=SimulatedBleakClient) as client:
                assert client.mtu_size == 247
                link = BleLink(client)
                await link.open()
                host = NmpHost(link)
                info = await host.request(GetInfo())
                assert isinstance(info, Info)
                assert len(link.notifications) == 1  # INFO fits one notification
                await client.write_gatt_char(RX_CHAR_UUID, encode(Keepalive(), 9) * 30)
                with pytest.raises(BleakGATTProtocolError):
                    await client.write_gatt_char(RX_CHAR_UUID, bytes(245))

    virtual(scenario)


def test_ble_disconnect_callback_fires_when_the_link_drops(in_the_air: BleRegistry) -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4", faults=FaultConfig(drop_after_s=4)) as device:
            in_the_air.add(device, address="C0:FF:EE:00:00:03")
            dropped = asyncio.Event()
            client = BleakClient(
                "C0:FF:EE:00:00:03",
                disconnected_callback=lambda c: dropped.set(),
                backend=SimulatedBleakClient,
            )
            await client.connect()
            link = BleLink(client)
            await link.open()
            host = NmpHost(link)
            await host.request(SetOutput(0b1, 5))
            entry = in_the_air.get("C0:FF:EE:00:00:03")
            assert entry is not None and not entry.advertising  # connected: silent
            await asyncio.wait_for(dropped.wait(), 10)
            assert asyncio.get_running_loop().time() == pytest.approx(4, abs=0.01)
            assert not client.is_connected and not device.is_on
            assert entry.advertising  # free again
            with pytest.raises(BleakError):
                await client.write_gatt_char(RX_CHAR_UUID, b"\x00", response=False)
            # A solicited disconnect does not call the callback again.
            dropped.clear()
            await client.connect()
            await client.disconnect()
            await asyncio.sleep(0.1)
            assert not dropped.is_set()

    virtual(scenario)


def test_ble_connect_to_an_unknown_or_switched_off_device_fails(in_the_air: BleRegistry) -> None:
    async def scenario() -> None:
        with pytest.raises(BleakDeviceNotFoundError):
            await BleakClient("C0:FF:EE:99:99:99", backend=SimulatedBleakClient).connect()
        device = SimulatedDevice("neck2")
        in_the_air.add(device, address="C0:FF:EE:00:00:04")
        with pytest.raises(BleakDeviceNotFoundError):
            await BleakClient("C0:FF:EE:00:00:04", backend=SimulatedBleakClient).connect()
        await device.start()
        client = BleakClient("C0:FF:EE:00:00:04", backend=SimulatedBleakClient)
        await client.connect()
        second = BleakClient("C0:FF:EE:00:00:04", backend=SimulatedBleakClient)
        with pytest.raises(BleakError, match="already connected"):
            await second.connect()
        await client.disconnect()
        await device.stop()

    virtual(scenario)


def test_a_private_registry_can_be_passed_to_the_backends() -> None:
    async def scenario() -> None:
        registry = BleRegistry()
        async with SimulatedDevice("handheld", address="C0:FF:EE:00:00:05") as device:
            registry.add(device)
            async with BleakScanner(backend=SimulatedBleakScanner, registry=registry) as scanner:
                await asyncio.sleep(0.5)
            assert [d.address for d in scanner.discovered_devices] == ["C0:FF:EE:00:00:05"]
            assert BLE_REGISTRY.get("C0:FF:EE:00:00:05") is None
            client = BleakClient(
                "C0:FF:EE:00:00:05", backend=SimulatedBleakClient, registry=registry
            )
            await client.connect()
            assert client.services.get_service(SERVICE_UUID) is not None
            # A mains device has no Battery Service.
            assert client.services.get_characteristic(BATTERY_LEVEL_CHAR_UUID) is None
            await client.disconnect()

    virtual(scenario)
