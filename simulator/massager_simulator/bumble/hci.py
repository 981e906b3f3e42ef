"""A simulated device as a BLE peripheral through a Bluetooth controller (HCI).

``massager simulate --ble usb:0`` (or ``python -m massager_simulator --ble
...``) opens the controller with bumble's transport names, serves the
device's GATT face and advertises with legacy advertising, which every phone
and host stack hears.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator

from bumble import hci
from bumble.core import BaseBumbleError
from bumble.device import Device
from bumble.transport import open_transport

from massager_simulator.bumble.peripheral import BumblePeripheral
from massager_simulator.device import SimulatedDevice

#: Transport names a user is most likely to need (bumble accepts more).
TRANSPORT_EXAMPLES = (
    "usb:0",
    "serial:/dev/ttyACM0,1000000",
    "hci-socket:0",
    "tcp-client:127.0.0.1:9001",
)


def static_random_address(serial: str) -> str:
    """A static random Bluetooth address derived from ``serial`` (stable across runs).

    Its two top bits are 1, as the Core Specification asks of a static address.
    """
    raw = bytearray(hashlib.sha256(serial.encode("utf-8")).digest()[:6])
    raw[0] |= 0xC0
    return ":".join(f"{b:02X}" for b in raw)


@contextlib.asynccontextmanager
async def serve_ble(
    sim: SimulatedDevice, transport: str, *, address: str | None = None
) -> AsyncIterator[BumblePeripheral]:
    """Serve the running ``sim`` through the controller at ``transport`` (a bumble
    transport name) until the block ends. ``address``: the static random address
    to advertise (default: derived from the serial number).

    Raises ``ValueError`` for a malformed transport name and ``OSError`` when the
    controller cannot be opened.
    """
    try:
        hci_transport = await open_transport(transport)
    except ValueError as exc:
        raise ValueError(
            f"--ble {transport!r}: {exc}; expected a bumble transport name such as "
            + ", ".join(TRANSPORT_EXAMPLES)
        ) from exc
    except BaseBumbleError as exc:  # e.g. no such USB controller
        raise OSError(f"cannot open the Bluetooth controller {transport!r}: {exc}") from exc
    async with hci_transport:
        own = address or static_random_address(sim.serial)
        device = Device.with_hci(
            f"sim-{sim.serial}",
            hci.Address(own, hci.Address.RANDOM_DEVICE_ADDRESS),
            hci_transport.source,
            hci_transport.sink,
        )
        peripheral = BumblePeripheral(sim, device, advertising_interval_ms=100.0)
        await peripheral.start()
        try:
            yield peripheral
        finally:
            await peripheral.stop()
            with contextlib.suppress(Exception):
                await device.power_off()
