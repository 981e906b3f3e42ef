"""A fleet: many simulated devices in one process, each with its own serial and address."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from massager_simulator.device import SimulatedDevice
from massager_simulator.faults import FaultConfig
from massager_simulator.link import LinkEnd
from massager_simulator.model import DEFAULT_MODEL, DeviceModel, load_model
from massager_simulator.tcp import serve_tcp

if TYPE_CHECKING:
    from massager_simulator.ble import BleRegistry

#: Fleet addresses are random static BLE addresses (top two bits set) under this prefix.
ADDRESS_PREFIX = "C0:FF:EE"


def fleet_address(index: int) -> str:
    """The Bluetooth address of fleet member ``index`` (0-based)."""
    if not 0 <= index < 1 << 24:
        raise ValueError(f"fleet index {index} outside 0..{(1 << 24) - 1}")
    return f"{ADDRESS_PREFIX}:{index >> 16 & 255:02X}:{index >> 8 & 255:02X}:{index & 255:02X}"


class Fleet:
    """Many simulated devices, reachable in-process, over TCP and over (simulated) BLE.

    ``Fleet(100)`` makes a hundred ``heat4`` devices; :meth:`add` adds one of
    any model. Serial numbers keep the model's prefix with the fleet index
    (``H4-000001``...), addresses are ``C0:FF:EE:00:00:01``...
    """

    def __init__(
        self,
        count: int = 0,
        model: DeviceModel | str = DEFAULT_MODEL,
        *,
        faults: FaultConfig | None = None,
    ) -> None:
        if count < 0:
            raise ValueError(f"fleet size must be >= 0, got {count}")
        self.devices: list[SimulatedDevice] = []
        self._servers: list[asyncio.Server] = []
        #: TCP port of each device's server, by address, once :meth:`serve_tcp` ran.
        self.tcp_ports: dict[str, int] = {}
        resolved = load_model(model) if isinstance(model, str) else model
        for _ in range(count):
            self.add(resolved, faults=faults)

    def add(
        self,
        model: DeviceModel | str = DEFAULT_MODEL,
        *,
        faults: FaultConfig | None = None,
        battery_pct: float | None = None,
    ) -> SimulatedDevice:
        """Add one device with the next serial number and address."""
        resolved = load_model(model) if isinstance(model, str) else model
        number = len(self.devices) + 1
        prefix = resolved.serial.rsplit("-", 1)[0]
        device = SimulatedDevice(
            resolved,
            serial=f"{prefix}-{number:06d}",
            faults=faults,
            battery_pct=battery_pct,
            address=fleet_address(number),
        )
        self.devices.append(device)
        return device

    def __len__(self) -> int:
        return len(self.devices)

    def __iter__(self) -> Iterator[SimulatedDevice]:
        return iter(self.devices)

    def __getitem__(self, index: int) -> SimulatedDevice:
        return self.devices[index]

    def by_address(self, address: str) -> SimulatedDevice:
        """The device with this address (case-insensitive); ``KeyError`` if none."""
        wanted = address.upper()
        for device in self.devices:
            if device.address == wanted:
                return device
        raise KeyError(f"no fleet device has address {address!r}")

    def by_serial(self, serial: str) -> SimulatedDevice:
        """The device with this serial number; ``KeyError`` if none."""
        for device in self.devices:
            if device.serial == serial:
                return device
        raise KeyError(f"no fleet device has serial {serial!r}")

    def connect(self, address: str, mtu: int | None = None) -> LinkEnd:
        """An in-process link to the device with this address."""
        return self.by_address(address).connect(mtu)

    async def start(self) -> None:
        """Power every device on."""
        for device in self.devices:
            await device.start()

    async def stop(self) -> None:
        """Close the TCP servers and power every device off."""
        for server in self._servers:
            server.close()
        self._servers.clear()
        self.tcp_ports.clear()
        for device in self.devices:
            await device.stop()

    async def __aenter__(self) -> Fleet:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def serve_tcp(self, host: str = "127.0.0.1") -> dict[str, int]:
        """Serve every device on its own TCP port; returns ports by address."""
        for device in self.devices:
            assert device.address is not None
            if device.address in self.tcp_ports:
                continue
            server, port = await serve_tcp(device, host, 0)
            self._servers.append(server)
            self.tcp_ports[device.address] = port
        return dict(self.tcp_ports)

    def register_ble(self, registry: BleRegistry | None = None) -> None:
        """Put every device "in the air" for the simulated BLE backend."""
        from massager_simulator.ble import BLE_REGISTRY

        target = BLE_REGISTRY if registry is None else registry
        for device in self.devices:
            target.add(device)

    def unregister_ble(self, registry: BleRegistry | None = None) -> None:
        """Take every device out of the air again."""
        from massager_simulator.ble import BLE_REGISTRY

        target = BLE_REGISTRY if registry is None else registry
        for device in self.devices:
            if device.address is not None:
                target.remove(device.address)
