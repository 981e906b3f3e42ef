"""Virtual neck-massager firmware: the device side of the protocol contracts.

It depends on ``massager_protocols`` and the standard library only (pyserial
is not needed here; bleak only inside :mod:`massager_simulator.ble`), never on
the host SDK, so a host bug cannot hide behind shared code.

API::

    device = SimulatedDevice("heat4")            # or SimulatedDevice(load_model("neck2"))
    async with device:                           # or: await device.start() ... await device.stop()
        link = device.connect(mtu=None)          # LinkEnd: in-process byte link
        await link.write(frame_bytes)            # raw frames of its protocol, any chunking
        chunk = await link.read()                # ConnectionResetError once closed/dropped
        link.close()                             # the host went away: the device stops

    server, port = await serve_tcp(device, "127.0.0.1", 0)   # tcp://127.0.0.1:PORT
    path = open_pty(device)                                    # serial:///dev/pts/N
    device.faults = FaultConfig(corrupt=0.01, delay_ms=30, seed=7)  # or device.inject(...)
    device.press_button(); device.set_charging(True)
    device.levels, device.temperature_c, device.battery_pct, device.fault_flags, device.is_on

    fleet = Fleet(50)                             # many devices, own serials and addresses
    list_models() -> ["handheld", "heat4", "neck2"]; load_model(name_or_path) -> DeviceModel

BLE: :mod:`massager_simulator.ble` (``BLE_REGISTRY``, ``SimulatedBleakClient``,
``SimulatedBleakScanner``). Command line: ``python -m massager_simulator
--tcp 127.0.0.1:0`` (see :mod:`massager_simulator.serve`).
"""

from massager_simulator.device import SimulatedDevice
from massager_simulator.faults import FaultConfig
from massager_simulator.fleet import Fleet
from massager_simulator.link import LinkEnd
from massager_simulator.model import (
    DEFAULT_MODEL,
    DeviceModel,
    ModelError,
    list_models,
    load_model,
)
from massager_simulator.pty_link import open_pty
from massager_simulator.tcp import serve_tcp

__all__ = [
    "DEFAULT_MODEL",
    "DeviceModel",
    "FaultConfig",
    "Fleet",
    "LinkEnd",
    "ModelError",
    "SimulatedDevice",
    "list_models",
    "load_model",
    "open_pty",
    "serve_tcp",
]
