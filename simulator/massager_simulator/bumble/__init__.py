"""Simulated devices on a real Bluetooth host stack: Google's bumble (the ``bumble`` extra).

- :class:`BumblePeripheral` serves a simulated device's GATT face (NMP/1,
  Tuya, yh) and advertises it, on any bumble ``Device``: an in-process
  controller, or a real controller through an HCI transport
  (``massager simulate --ble usb:0``).
- :class:`BumbleBleakClient` and :class:`BumbleBleakScanner` are bleak
  backends on a bumble host: bleak's public ``BleakClient`` and
  ``BleakScanner`` over a real ATT/GATT stack (MTU exchange, ATT errors,
  disconnect reasons, advertising and scan responses).
- :class:`VirtualAir` puts both on bumble's in-process link with virtual
  controllers, so tests run without radio hardware and on the virtual clock.

Only this package imports bumble; it is optional (``pip install
'massager-simulator[bumble]'``).
"""

from massager_simulator.bumble.air import VirtualAir
from massager_simulator.bumble.backend import (
    BumbleBleakClient,
    BumbleBleakScanner,
    BumbleCentral,
    register_central,
    unregister_central,
)
from massager_simulator.bumble.peripheral import BumblePeripheral

__all__ = [
    "BumbleBleakClient",
    "BumbleBleakScanner",
    "BumbleCentral",
    "BumblePeripheral",
    "VirtualAir",
    "register_central",
    "unregister_central",
]
