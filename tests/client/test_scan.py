"""Finding massagers over BLE with bleak and the simulator's scanner backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from massager_simulator import SimulatedDevice
from massager_simulator.ble import BLE_REGISTRY, SimulatedBleakClient, SimulatedBleakScanner

import massager_sdk
from massager_sdk.transports import ble
from tests.client.rig import next_ble_address


@pytest.fixture
def in_the_air() -> Iterator[list[str]]:
    """Addresses put in the air by the test, taken out afterwards."""
    added: list[str] = []
    yield added
    for address in added:
        BLE_REGISTRY.remove(address)


async def test_scan_finds_massagers_strongest_first(in_the_air: list[str]) -> None:
    near, far = SimulatedDevice("heat4"), SimulatedDevice("neck2")
    for sim, rssi in ((far, -80), (near, -45)):
        await sim.start()
        address = next_ble_address()
        BLE_REGISTRY.add(sim, address=address, rssi=rssi)
        in_the_air.append(address)
    try:
        found = await massager_sdk.scan(0.3, backend=SimulatedBleakScanner)
        ours = [d for d in found if d.address in in_the_air]
        assert [d.model for d in ours] == ["NMP Heat 4", "NMP Neck 2"]
        assert [d.rssi for d in ours] == [-45, -80]
        assert all(d.protocol == "nmp1" for d in ours)
        assert ours[0].name == f"NMP-{near.serial}"
        assert ours[0].url == f"ble://{in_the_air[1]}"
    finally:
        await near.stop()
        await far.stop()


async def test_a_connected_device_stops_advertising(in_the_air: list[str]) -> None:
    sim = SimulatedDevice("heat4")
    await sim.start()
    address = next_ble_address()
    BLE_REGISTRY.add(sim, address=address)
    in_the_air.append(address)
    try:
        async with massager_sdk.connect(
            f"ble://{address}",
            client_backend=SimulatedBleakClient,
            scanner_backend=SimulatedBleakScanner,
        ):
            found = await massager_sdk.scan(0.3, backend=SimulatedBleakScanner)
            assert address not in [d.address for d in found]
    finally:
        await sim.stop()


async def test_process_wide_backends_and_connecting_by_name(in_the_air: list[str]) -> None:
    sim = SimulatedDevice("neck2", serial="N2-424242")
    await sim.start()
    address = next_ble_address()
    BLE_REGISTRY.add(sim, address=address, name="Bedroom massager")
    in_the_air.append(address)
    ble.use_backends(SimulatedBleakClient, SimulatedBleakScanner)
    try:
        async with massager_sdk.connect("ble://Bedroom%20massager") as device:
            assert device.info.serial == "N2-424242"
            assert device.transport.mtu == 20  # ATT MTU 23, minus 3
            await device.set_intensity(1)
            await device.flush()
            assert sim.commanded == (1, 1)
        assert not sim.is_on
    finally:
        ble.use_backends()
        await sim.stop()


async def test_a_device_not_in_range_fails_clearly() -> None:
    with pytest.raises(massager_sdk.ConnectionFailed, match="no BLE device named 'Nobody'"):
        async with massager_sdk.connect(
            "ble://Nobody", scanner_backend=SimulatedBleakScanner, scan_timeout=0.3
        ):
            pass
