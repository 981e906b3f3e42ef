"""BLE over a real host stack: bleak's BleakClient on bumble, the simulator as a bumble peripheral.

Every case runs on bumble's in-process link with virtual controllers, on the
virtual clock: MTU exchange and write sizes, notification splits, ATT errors,
disconnect reasons, reconnection and what scanners hear.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal, TypeVar

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakGATTProtocolError, BleakGATTProtocolErrorCode
from bumble import hci
from massager_protocols.nmp import GetInfo, Info, StreamDecoder, encode
from massager_protocols.nmp.gatt import BATTERY_LEVEL_CHAR_UUID, RX_CHAR_UUID, TX_CHAR_UUID
from massager_simulator import SimulatedDevice
from massager_simulator.bumble import (
    BumbleBleakClient,
    BumbleBleakScanner,
    BumblePeripheral,
    VirtualAir,
)
from massager_simulator.clock import run_virtual
from massager_simulator.model import list_models

import massager_sdk
from massager_sdk.client import Device
from massager_sdk.model import DeviceEvent, EventKind, Pattern, PatternStep
from massager_sdk.profiles.matching import identify_advertisement
from massager_sdk.programs import ProgramRunner, compile_program, load_program
from tests.client.rig import BUMBLE_OPTIONS, FAST_RAMP, next_ble_address, wait_for

T = TypeVar("T")


def virtual(scenario: Callable[[], Awaitable[T]]) -> T:
    """Run on the virtual clock, bounded in virtual time."""

    async def bounded() -> T:
        async with asyncio.timeout(3600):
            return await scenario()

    return run_virtual(bounded)


@contextlib.asynccontextmanager
async def in_the_air(
    model: str = "heat4", *, max_mtu: int = 517
) -> AsyncIterator[tuple[SimulatedDevice, BumblePeripheral, str]]:
    """A running simulated ``model`` served by a bumble peripheral, and bleak's adapter."""
    sim = SimulatedDevice(model)
    await sim.start()
    try:
        async with VirtualAir() as air:
            await air.add_central()
            address = next_ble_address()
            peripheral = await air.add_peripheral(sim, address, max_mtu=max_mtu)
            yield sim, peripheral, address
    finally:
        await sim.stop()


def write_sizes(peripheral: BumblePeripheral) -> list[int]:
    """The size of every write the device receives from now on."""
    sizes: list[int] = []
    peripheral.rx.on("write", lambda connection, value: sizes.append(len(value)))
    return sizes


@pytest.mark.parametrize(("max_mtu", "payload"), [(23, 20), (247, 244), (517, 514)])
def test_the_mtu_exchange_sets_the_write_size(max_mtu: int, payload: int) -> None:
    async def scenario() -> None:
        async with (
            in_the_air(max_mtu=max_mtu) as (_, _, address),
            BleakClient(address, backend=BumbleBleakClient) as client,
        ):
            assert client.mtu_size == max_mtu
            rx = client.services.get_characteristic(RX_CHAR_UUID)
            assert rx is not None
            assert rx.max_write_without_response_size == payload
            # One byte more than a write command carries is refused, as a real stack does.
            with pytest.raises(BleakGATTProtocolError) as refused:
                await client.write_gatt_char(rx, bytes(payload + 1), response=False)
            assert refused.value.code == BleakGATTProtocolErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH

    virtual(scenario)


@pytest.mark.parametrize("max_mtu", [23, 517])
def test_notifications_are_split_to_the_mtu(max_mtu: int) -> None:
    async def scenario() -> None:
        async with (
            in_the_air(max_mtu=max_mtu) as (_, _, address),
            BleakClient(address, backend=BumbleBleakClient) as client,
        ):
            chunks: list[bytes] = []
            await client.start_notify(TX_CHAR_UUID, lambda _, data: chunks.append(bytes(data)))
            await client.write_gatt_char(RX_CHAR_UUID, encode(GetInfo(), seq=7), response=True)

            def infos() -> list[Any]:
                frames = StreamDecoder().feed(b"".join(chunks))
                return [f for f in frames if isinstance(f.message(), Info)]

            await wait_for(lambda: bool(infos()), "INFO")
            info = infos()[0]
            assert info.seq == 7
            assert len(encode(info.message(), seq=7)) > 20  # more than one MTU-23 notification
            assert max(len(c) for c in chunks) <= max_mtu - 3
            if max_mtu == 23:
                assert len(chunks) > 1
            else:  # each frame in one notification
                assert len(chunks) == len(StreamDecoder().feed(b"".join(chunks)))

    virtual(scenario)


#: A pattern whose upload frame is longer than one MTU-23 write carries.
WAVE = Pattern(tuple(PatternStep(0.1 * (1 + i % 10), 0.25) for i in range(16)))


@pytest.mark.parametrize("max_mtu", [23, 517])
def test_the_client_writes_frames_in_pieces_the_mtu_allows(max_mtu: int) -> None:
    async def scenario() -> None:
        async with in_the_air(max_mtu=max_mtu) as (_, peripheral, address):
            sizes = write_sizes(peripheral)
            async with massager_sdk.connect(
                f"ble://{address}", limits=FAST_RAMP, **BUMBLE_OPTIONS
            ) as device:
                await device.play_pattern(WAVE, ["left neck", "right neck"], intensity=5)
                await device.flush()
                assert device.stats.pattern_uploads == 1
            assert max(sizes) <= max_mtu - 3
            if max_mtu == 23:
                # The pattern upload is longer than 20 bytes: it went in pieces.
                assert sizes.count(20) >= 2
            else:
                assert max(sizes) > 20  # a whole frame per write

    virtual(scenario)


def test_att_errors_reach_bleak_as_protocol_errors() -> None:
    async def scenario() -> None:
        async with (
            in_the_air("heat4") as (_, _, address),
            BleakClient(address, backend=BumbleBleakClient) as client,
        ):
            with pytest.raises(BleakGATTProtocolError) as read_rx:
                await client.read_gatt_char(RX_CHAR_UUID)
            assert read_rx.value.code == BleakGATTProtocolErrorCode.READ_NOT_PERMITTED
            with pytest.raises(BleakGATTProtocolError) as read_tx:
                await client.read_gatt_char(TX_CHAR_UUID)
            assert read_tx.value.code == BleakGATTProtocolErrorCode.READ_NOT_PERMITTED
            with pytest.raises(BleakGATTProtocolError) as write_tx:
                await client.write_gatt_char(TX_CHAR_UUID, b"\x00", response=True)
            assert write_tx.value.code == BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED

    virtual(scenario)


def test_the_battery_level_is_read_over_att() -> None:
    async def scenario() -> None:
        async with (
            in_the_air("neck2") as (sim, _, address),
            BleakClient(address, backend=BumbleBleakClient) as client,
        ):
            level = await client.read_gatt_char(BATTERY_LEVEL_CHAR_UUID)
            assert level == bytearray([int(sim.status().battery_pct or 0)])
            assert level[0] > 0

    virtual(scenario)


def test_a_mains_powered_model_offers_no_battery_service() -> None:
    async def scenario() -> None:
        async with (
            in_the_air("handheld") as (_, _, address),
            BleakClient(address, backend=BumbleBleakClient) as client,
        ):
            assert client.services.get_characteristic(BATTERY_LEVEL_CHAR_UUID) is None

    virtual(scenario)


def test_disconnect_reasons_on_both_sides() -> None:
    async def scenario() -> None:
        async with in_the_air("heat4") as (sim, peripheral, address):
            # The host leaves: the device hears "remote user terminated".
            async with BleakClient(address, backend=BumbleBleakClient):
                assert sim.link_count == 1
            assert (
                peripheral.last_disconnect_reason == hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR
            )
            await wait_for(lambda: sim.link_count == 0, "the device's link to close")
            # The device drops the link: the host's callback fires with the reason.
            lost: list[BleakClient] = []
            client = BleakClient(
                address, backend=BumbleBleakClient, disconnected_callback=lost.append
            )
            await client.connect()
            sim.drop_links()
            await wait_for(lambda: bool(lost), "the disconnected callback")
            assert not client.is_connected
            backend = client._backend
            assert isinstance(backend, BumbleBleakClient)
            assert backend.disconnect_reason == hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR
            # The device powers its radio off: "power off".
            await client.connect()
            await peripheral.stop()
            await wait_for(lambda: len(lost) == 2, "the second disconnected callback")
            assert (
                backend.disconnect_reason
                == hci.HCI_REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_POWER_OFF_ERROR
            )

    virtual(scenario)


@pytest.mark.parametrize("model", ["heat4", "yh-ems", "tuya-neck"])
def test_a_dropped_link_is_regained_and_outputs_restored(model: str) -> None:
    async def scenario() -> None:
        async with in_the_air(model) as (sim, _, address):
            extra: dict[str, Any] = dict(BUMBLE_OPTIONS)
            if sim.model.protocol == "tuya_ble":
                extra.update(
                    {k: sim.model.protocol_options[k] for k in ("local_key", "device_id", "uuid")}
                )
            async with massager_sdk.connect(
                f"ble://{address}", limits=FAST_RAMP, **extra
            ) as device:
                await check_reconnect(device, sim)

    virtual(scenario)


async def check_reconnect(device: Device, sim: SimulatedDevice) -> None:
    events: list[DeviceEvent] = []
    device.on_event(events.append)
    zones = len(device.info.zones)
    await device.set_intensity(3)
    await device.flush()
    sim.drop_links()
    await wait_for(lambda: any(e.kind is EventKind.LINK_LOST for e in events), "LINK_LOST")
    await wait_for(lambda: any(e.kind is EventKind.LINK_RESTORED for e in events), "LINK_RESTORED")
    await device.flush()
    assert sim.commanded == (3,) * zones
    assert device.stats.reconnects == 1
    await device.set_intensity(1)
    await device.flush()
    assert sim.commanded == (1,) * zones


@pytest.mark.parametrize("model", list_models())
@pytest.mark.parametrize("mode", ["active", "passive"])
def test_every_model_is_heard_over_legacy_advertising(
    model: str, mode: Literal["active", "passive"]
) -> None:
    """Legacy advertising through real HCI commands: at most 31 + 31 bytes, or the
    controller refuses; a passive scanner hears the advertising data alone."""

    async def scenario() -> None:
        sim = SimulatedDevice(model)
        await sim.start()
        try:
            async with VirtualAir() as air:
                await air.add_central()
                address = next_ble_address()
                peripheral = await air.add_peripheral(sim, address, extended=False)
                found = await BleakScanner.discover(
                    timeout=0.5, return_adv=True, backend=BumbleBleakScanner, scanning_mode=mode
                )
                _, adv = found[address]
                match = identify_advertisement(adv)
                assert match.protocol == sim.model.protocol
                if sim.model.protocol == "nmp1":
                    assert adv.local_name == peripheral.gatt.local_name
                    assert match.model == sim.model.model
                # Connecting after a legacy advertisement works as after an extended one.
                async with BleakClient(found[address][0], backend=BumbleBleakClient) as client:
                    assert client.services.get_service(peripheral.gatt.service_uuid) is not None
        finally:
            await sim.stop()

    virtual(scenario)


def test_a_second_central_is_refused_while_one_is_connected() -> None:
    async def scenario() -> None:
        async with (
            in_the_air("heat4") as (sim, _, address),
            BleakClient(address, backend=BumbleBleakClient),
        ):
            found = await BleakScanner.discover(timeout=0.3, backend=BumbleBleakScanner)
            assert address not in [d.address for d in found]  # not advertising
            assert sim.link_count == 1

    virtual(scenario)


def test_a_whole_program_plays_over_a_real_host_stack_on_the_virtual_clock() -> None:
    """``classic`` (over 19 minutes) end to end over bumble: every command through
    ATT writes and notifications, the clock virtual, the device stopped at the end."""

    async def scenario() -> None:
        async with in_the_air("heat4") as (sim, peripheral, address):
            writes = write_sizes(peripheral)
            async with massager_sdk.connect(f"ble://{address}", **BUMBLE_OPTIONS) as device:
                compiled = compile_program(load_program("classic"), device.info)
                start = asyncio.get_running_loop().time()
                last = await ProgramRunner(device, compiled).run()
                played = asyncio.get_running_loop().time() - start
            assert last.state == "completed"
            assert last.elapsed_s == pytest.approx(compiled.timeline.duration_s)
            assert played >= compiled.timeline.duration_s > 600
            assert len(writes) > 100
            assert sim.commanded == (0, 0, 0, 0)

    virtual(scenario)
