"""Running the client against a third-party protocol's simulator over each transport.

The same public API as the NMP/1 behavioural suite (``massager_sdk.connect``);
only the URL and ``protocol=`` differ. Over BLE the transport takes the GATT
endpoints (the yh FFE0 service, Tuya's A201) from the device profile.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from massager_simulator import SimulatedDevice, open_pty, serve_tcp
from massager_simulator.ble import BLE_REGISTRY, SimulatedBleakClient, SimulatedBleakScanner
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk.client import Device
from massager_sdk.protocols import get_protocol
from massager_sdk.safety import SafetyLimits

T = TypeVar("T")

#: A quick but still soft start: off to full in half a second.
FAST_RAMP = SafetyLimits(ramp_s=0.5, ramp_interval_s=0.05, overrides=frozenset({"ramp_s"}))
BLE_OPTIONS: dict[str, Any] = {
    "client_backend": SimulatedBleakClient,
    "scanner_backend": SimulatedBleakScanner,
    "scan_timeout": 2.0,
}
_addresses = itertools.count(0x10)


def next_ble_address() -> str:
    """A fresh simulated Bluetooth address."""
    n = next(_addresses)
    return f"C0:FF:EE:BB:{n >> 8 & 255:02X}:{n & 255:02X}"


def run(kind: str, scenario: Callable[[], Awaitable[T]]) -> T:
    """On the virtual clock in-process, in real time over real links."""

    async def bounded() -> T:
        async with asyncio.timeout(24 * 3600 if kind == "sim" else 60):
            return await scenario()

    return run_virtual(bounded) if kind == "sim" else asyncio.run(bounded())


async def wait_for(predicate: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Wait on the loop's clock until ``predicate()`` holds; else fail naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"still waiting after {within} s for {what}")
        await asyncio.sleep(0.01)


#: Every transport the client reaches the simulators over.
KINDS = ["sim", "pty", "tcp", "ble"]

#: The simulated Tuya neck massager's credentials (from its model file).
TUYA_CREDENTIALS = {
    "local_key": "sim0key0neck0001",
    "device_id": "bf0sim0neck0massager01",
    "uuid": "tuya0sim0neck001",
}


@contextlib.asynccontextmanager
async def url_for(
    kind: str, sim: SimulatedDevice, prefix: str
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The URL (with ``prefix`` such as ``tuya+``) and options that reach ``sim``."""
    if kind == "sim":
        yield f"{prefix}sim://{sim.model.name}", {"simulator": sim}
    elif kind == "pty":
        yield f"{prefix}serial://{open_pty(sim)}?baud=115200", {}
    elif kind == "tcp":
        server, port = await serve_tcp(sim, "127.0.0.1", 0)
        try:
            yield f"{prefix}tcp://127.0.0.1:{port}", {}
        finally:
            server.close()
    else:
        address = next_ble_address()
        BLE_REGISTRY.add(sim, address=address)
        try:
            yield f"{prefix}ble://{address}", dict(BLE_OPTIONS)
        finally:
            BLE_REGISTRY.remove(address)


def with_device(
    kind: str,
    model: str,
    body: Callable[[Device, SimulatedDevice], Awaitable[T]],
    **options: Any,
) -> T:
    """Start ``model``, connect to it over ``kind`` with its protocol and run ``body``."""

    async def scenario() -> T:
        sim = SimulatedDevice(model, battery_pct=options.pop("battery_pct", None))
        await sim.start()
        protocol = sim.model.protocol
        # The protocol's secure channel and credentials, as its registration names them.
        spec = get_protocol(protocol)
        prefix = f"{spec.channel.scheme}+" if spec.channel is not None else ""
        extra_options = {k: sim.model.protocol_options[k] for k in spec.credentials}
        try:
            async with url_for(kind, sim, prefix) as (url, extra):
                options.setdefault("limits", FAST_RAMP)
                async with massager_sdk.connect(
                    url, protocol=protocol, **extra, **extra_options, **options
                ) as device:
                    return await body(device, sim)
        finally:
            await sim.stop()

    return run(kind, scenario)
