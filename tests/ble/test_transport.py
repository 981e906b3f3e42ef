"""The BLE transport's practice: write sizes, service cache, adapters, passive scans, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason
from massager_simulator import SimulatedDevice
from massager_simulator.ble import (
    BLE_REGISTRY,
    BleEntry,
    SimulatedBleakClient,
    SimulatedBleakScanner,
)
from massager_simulator.bumble import BumbleBleakClient, BumbleBleakScanner, VirtualAir
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk.cli import main as cli_main
from massager_sdk.discovery import passive_patterns, watch
from massager_sdk.errors import BadURLError, BluetoothUnavailable, ConnectionFailed
from massager_sdk.transports import open_transport
from massager_sdk.transports.ble import BleTransport, scanner_kwargs, use_backends
from tests.client.rig import FAST_RAMP, next_ble_address


@pytest.fixture
def in_the_air() -> Iterator[list[str]]:
    """Addresses put in the simulated air by the test, taken out afterwards."""
    added: list[str] = []
    yield added
    for address in added:
        BLE_REGISTRY.remove(address)


def simulated(address: str, **extra: Any) -> dict[str, Any]:
    return {
        "client_backend": SimulatedBleakClient,
        "scanner_backend": SimulatedBleakScanner,
        "scan_timeout": 2.0,
        "limits": FAST_RAMP,
        **extra,
    }


class MtuUnknownClient(SimulatedBleakClient):
    """As BlueZ: ``mtu_size`` stays 23, the characteristic knows the real write size."""

    @property
    def mtu_size(self) -> int:
        return 23


async def test_writes_are_sized_by_the_characteristic_not_by_mtu_size(
    in_the_air: list[str],
) -> None:
    sim = SimulatedDevice("heat4")
    await sim.start()
    address = next_ble_address()
    BLE_REGISTRY.add(sim, address=address, mtu=247)
    in_the_air.append(address)
    try:
        async with massager_sdk.connect(
            f"ble://{address}", **simulated(address, client_backend=MtuUnknownClient)
        ) as device:
            transport = device.transport
            assert isinstance(transport, BleTransport)
            assert transport.mtu == 244
            await device.set_intensity(2)
            await device.flush()
            assert sim.commanded == (2, 2, 2, 2)
    finally:
        await sim.stop()


class StaleCacheClient(SimulatedBleakClient):
    """The first connection to each device shows services without the write
    characteristic (a stale cache); ``always_stale`` shows them so every time."""

    connects: dict[str, int] = {}
    always_stale = False

    def _build_services(self, entry: BleEntry) -> BleakGATTServiceCollection:
        full = super()._build_services(entry)
        count = self.connects[entry.address] = self.connects.get(entry.address, 0) + 1
        if count > 1 and not self.always_stale:
            return full
        stale = BleakGATTServiceCollection()
        for service in full:
            copy = BleakGATTService(None, service.handle, service.uuid)
            stale.add_service(copy)
            for char in service.characteristics:
                if "write" not in char.properties:
                    stale.add_characteristic(
                        BleakGATTCharacteristic(
                            None, char.handle, char.uuid, list(char.properties), lambda: 20, copy
                        )
                    )
        return stale


class AlwaysStaleClient(StaleCacheClient):
    always_stale = True


async def test_missing_characteristics_clear_the_cache_and_connect_again(
    in_the_air: list[str],
) -> None:
    sim = SimulatedDevice("heat4")
    await sim.start()
    address = next_ble_address()
    BLE_REGISTRY.add(sim, address=address)
    in_the_air.append(address)
    try:
        async with massager_sdk.connect(
            f"ble://{address}", **simulated(address, client_backend=StaleCacheClient)
        ) as device:
            assert StaleCacheClient.connects[address] == 2
            await device.set_intensity(1)
            await device.flush()
            assert sim.commanded == (1, 1, 1, 1)
        # A device that really lacks them: one retry, then a clear error.
        with pytest.raises(ConnectionFailed, match=r"has no service .* with write"):
            async with massager_sdk.connect(
                f"ble://{address}", **simulated(address, client_backend=AlwaysStaleClient)
            ):
                pass
        assert AlwaysStaleClient.connects[address] == 2 + 2
    finally:
        await sim.stop()


async def test_ble_device_callback_gives_the_device_to_connect_to(in_the_air: list[str]) -> None:
    sim = SimulatedDevice("neck2")
    await sim.start()
    address = next_ble_address()
    BLE_REGISTRY.add(sim, address=address)
    in_the_air.append(address)
    asked: list[BLEDevice] = []

    def freshest() -> BLEDevice:
        device = BLEDevice(address, "NMP-N2-000001", None)
        asked.append(device)
        return device

    try:
        transport = open_transport(
            "ble://NMP-N2-000001",
            client_backend=SimulatedBleakClient,
            scanner_backend=SimulatedBleakScanner,
            scan_timeout=0.01,  # too short to find it by scanning: the callback must
            ble_device_callback=freshest,
        )
        await transport.connect()
        try:
            assert len(asked) == 1
            assert transport.connected
        finally:
            await transport.disconnect()
    finally:
        await sim.stop()


def test_the_adapter_is_named_in_the_url() -> None:
    transport = open_transport("ble://NMP-H4-000001?adapter=hci1")
    assert isinstance(transport, BleTransport)
    assert transport.adapter == "hci1"
    assert transport.target == "NMP-H4-000001"
    with pytest.raises(BadURLError, match="adapter= takes one adapter name"):
        open_transport("ble://NMP-H4-000001?adapter=")
    with pytest.raises(BadURLError, match="unknown parameter 'mtu'"):
        open_transport("ble://NMP-H4-000001?mtu=247")


def test_the_adapter_picks_the_bumble_host_to_connect_through() -> None:
    async def scenario() -> None:
        sim = SimulatedDevice("heat4")
        await sim.start()
        try:
            async with VirtualAir() as air:
                await air.add_central("hci1", address="F0:F0:F0:F0:F0:11")
                address = next_ble_address()
                await air.add_peripheral(sim, address)
                options: dict[str, Any] = {
                    "client_backend": BumbleBleakClient,
                    "scanner_backend": BumbleBleakScanner,
                    "scan_timeout": 1.0,
                    "limits": FAST_RAMP,
                }
                async with massager_sdk.connect(
                    f"ble://{address}?adapter=hci1", **options
                ) as device:
                    assert device.info.model == "NMP Heat 4"
                # Without the adapter, the default one, which is not there.
                with pytest.raises(ConnectionFailed, match="no bumble adapter 'bumble0'"):
                    async with massager_sdk.connect(f"ble://{address}", **options):
                        pass
        finally:
            await sim.stop()

    run_virtual(scenario)


def test_passive_scanning_where_the_platform_offers_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    patterns = passive_patterns()
    linux = scanner_kwargs(
        None, passive=True, or_patterns=patterns, adapter="hci0", service_uuids=["180f"]
    )
    assert linux["scanning_mode"] == "passive"
    assert linux["bluez"]["adapter"] == "hci0"
    assert linux["service_uuids"] == ["180f"]
    contents = {bytes(p.content_of_pattern) for p in linux["bluez"]["or_patterns"]}
    assert b"\xff\xffNMP" in contents  # NMP/1's manufacturer data
    assert any(p.startswith(b"\x79\x68") for p in contents)  # yh's
    # BlueZ scans passively only with patterns: without any, actively.
    assert "scanning_mode" not in scanner_kwargs(None, passive=True)
    monkeypatch.setattr(sys, "platform", "darwin")
    macos = scanner_kwargs(None, passive=True, or_patterns=patterns)
    assert "scanning_mode" not in macos  # macOS: active only
    # An injected backend decides for itself.
    assert scanner_kwargs(SimulatedBleakScanner, passive=True)["scanning_mode"] == "passive"


async def test_a_passive_scan_names_nmp_devices_from_the_advertising_data_alone(
    in_the_air: list[str],
) -> None:
    sim = SimulatedDevice("heat4")
    await sim.start()
    address = next_ble_address()
    BLE_REGISTRY.add(sim, address=address)
    in_the_air.append(address)
    try:
        found = await massager_sdk.scan(0.3, backend=SimulatedBleakScanner, passive=True)
        ours = next(d for d in found if d.address == address)
        assert (ours.model, ours.name) == ("NMP Heat 4", "NMP-H4-000001")
        assert "services" not in ours.seen  # the scan response was never asked for
        active = await massager_sdk.scan(0.3, backend=SimulatedBleakScanner)
        assert "services [a5e10001" in next(d for d in active if d.address == address).seen
    finally:
        await sim.stop()


async def test_watch_reports_each_device_once_until_it_changes(in_the_air: list[str]) -> None:
    sims = [SimulatedDevice("heat4"), SimulatedDevice("yh-ems")]
    for sim in sims:
        await sim.start()
        address = next_ble_address()
        BLE_REGISTRY.add(sim, address=address)
        in_the_air.append(address)
    try:
        seen: list[str] = []
        async for found in watch(backend=SimulatedBleakScanner):
            if found.address in in_the_air:
                seen.append(found.address)
            if len(seen) == 2:
                break
        assert sorted(seen) == sorted(in_the_air)  # each once, though heard many times
    finally:
        for sim in sims:
            await sim.stop()


class NoBluetoothScanner(SimulatedBleakScanner):
    async def start(self) -> None:
        raise BleakBluetoothNotAvailableError(
            "Bluetooth is turned off", BleakBluetoothNotAvailableReason.POWERED_OFF
        )


class NoDbusScanner(SimulatedBleakScanner):
    async def start(self) -> None:
        raise FileNotFoundError(2, "No such file or directory")


@pytest.mark.parametrize(
    ("scanner", "why"),
    [(NoBluetoothScanner, "turned off (powered off)"), (NoDbusScanner, "D-Bus system bus")],
)
async def test_no_bluetooth_is_a_clear_error(
    scanner: type[SimulatedBleakScanner], why: str
) -> None:
    with pytest.raises(BluetoothUnavailable, match=r"^Bluetooth unavailable: ") as caught:
        await massager_sdk.scan(0.1, backend=scanner)
    assert why in str(caught.value)
    assert isinstance(caught.value, ConnectionFailed)


def test_massager_scan_says_bluetooth_unavailable_and_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_backends(scanner=NoDbusScanner)
    try:
        code = cli_main(["scan", "--timeout", "0.1"])
    finally:
        use_backends()
    err = capsys.readouterr().err
    assert code != 0
    assert "Bluetooth unavailable: cannot reach the system's Bluetooth service" in err
    assert "Errno" not in err


def test_massager_scan_watch_prints_a_json_line_per_device() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from massager_sdk.cli import entry_point; entry_point()",
            "scan",
            "--simulate",
            "heat4,yh-ems",
            "--watch",
            "--timeout",
            "1",
            "--json",
            "--passive",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(d["model"] for d in lines) == ["NMP Heat 4", "YH EMS Neck"]
