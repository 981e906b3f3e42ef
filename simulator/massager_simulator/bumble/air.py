"""Virtual Bluetooth: bumble controllers on one in-process link."""

from __future__ import annotations

from types import TracebackType

from bumble import hci
from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from massager_simulator.bumble.backend import (
    DEFAULT_ADAPTER,
    BumbleCentral,
    register_central,
    unregister_central,
)
from massager_simulator.bumble.peripheral import BumblePeripheral
from massager_simulator.device import SimulatedDevice


class VirtualAir:
    """Simulated devices and bleak adapters sharing bumble's in-process link.

    Each one gets its own virtual controller and bumble host; everything runs
    on the event loop that uses it (the virtual clock included)::

        async with VirtualAir() as air:
            await air.add_central()                      # bleak's adapter "bumble0"
            await air.add_peripheral(sim, "C0:FF:EE:00:00:01")
            async with BleakClient("C0:FF:EE:00:00:01", backend=BumbleBleakClient): ...

    Peripherals advertise extended (see :class:`BumblePeripheral`), as the
    in-process link repeats a legacy advertisement in place of its scan response.
    """

    def __init__(self) -> None:
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        self.peripherals: dict[str, BumblePeripheral] = {}
        self._centrals: list[str] = []

    def _host(self, name: str, address: str) -> Device:
        controller = Controller(name, link=self.link, public_address=address)
        host = Host(controller, AsyncPipeSink(controller))
        return Device(name=name, address=hci.Address(address), host=host)

    async def add_central(
        self, adapter: str = DEFAULT_ADAPTER, address: str = "F0:F0:F0:F0:F0:01"
    ) -> BumbleCentral:
        """A bumble host that bleak's bumble backends use as adapter ``adapter``."""
        device = self._host(adapter, address)
        await device.power_on()
        self._centrals.append(adapter)
        return register_central(device, adapter)

    async def add_peripheral(
        self,
        sim: SimulatedDevice,
        address: str,
        *,
        max_mtu: int = 517,
        name: str | None = None,
        extended: bool = True,
    ) -> BumblePeripheral:
        """Serve ``sim`` at ``address`` (it must be running) and start advertising
        (``extended=False``: legacy advertising, heard without its scan response)."""
        key = address.upper()
        if key in self.peripherals:
            raise ValueError(f"address {key} is already taken by another peripheral")
        peripheral = BumblePeripheral(
            sim, self._host(f"sim-{key}", key), name=name, max_mtu=max_mtu, extended=extended
        )
        await peripheral.start()
        self.peripherals[key] = peripheral
        return peripheral

    async def remove_peripheral(self, address: str) -> None:
        """Power the peripheral's radio off (its central sees the link end)."""
        peripheral = self.peripherals.pop(address.upper(), None)
        if peripheral is not None:
            await peripheral.stop()

    async def close(self) -> None:
        """Take every peripheral and adapter out of the air."""
        for address in list(self.peripherals):
            await self.remove_peripheral(address)
        for adapter in self._centrals:
            unregister_central(adapter)
        self._centrals.clear()

    async def __aenter__(self) -> VirtualAir:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
