"""Running the client against the simulator over each transport, in each protocol.

A case is an async ``body(device, sim)``: ``device`` is the SDK's client,
connected over the named transport, and ``sim`` the simulated massager at the
other end, whose state (zone levels, heater target) the test checks. The
in-process case and BLE through a real host stack (bleak's ``BleakClient``
on bumble, with virtual controllers on bumble's in-process link) run on the
virtual clock; the others (a pseudo-terminal driven by pyserial, TCP on
loopback, bleak's ``BleakClient`` with the simulator's backend) in real time.

Each wire protocol has its simulator model (:data:`PROTOCOL_MODELS`). The
client is reached the way a user reaches such a device: ``sim://MODEL`` and
BLE find the protocol themselves (the model, the advertisement); a serial or
TCP link names it in the URL (``?protocol=yh``); a Tuya device over anything
but the in-process simulator is given its credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from massager_simulator import DeviceModel, FaultConfig, SimulatedDevice, open_pty, serve_tcp
from massager_simulator.ble import BLE_REGISTRY, SimulatedBleakClient, SimulatedBleakScanner
from massager_simulator.bumble import BumbleBleakClient, BumbleBleakScanner, VirtualAir
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk.client import Device
from massager_sdk.safety import SafetyLimits

T = TypeVar("T")

#: Every transport the behavioural suite runs over.
TRANSPORTS = ("sim", "pty", "tcp", "ble", "bumble")
#: The transports that run on the virtual clock.
VIRTUAL_CLOCK = ("sim", "bumble")
#: The simulator model that speaks each wire protocol.
PROTOCOL_MODELS = {"nmp1": "heat4", "yh": "yh-ems", "tuya_ble": "tuya-neck"}
#: Every wire protocol the behavioural suite runs in.
PROTOCOLS = tuple(PROTOCOL_MODELS)
#: The model options that are a Tuya device's credentials.
TUYA_KEYS = ("local_key", "device_id", "uuid")
#: A quick but still soft start: off to full in half a second, a step every 50 ms.
FAST_RAMP = SafetyLimits(ramp_s=0.5, ramp_interval_s=0.05, overrides=frozenset({"ramp_s"}))
#: Bound on any wait in a real-time case; a passing case never comes near it.
PATIENCE_S = 10.0
#: Options for a BLE connection to the simulator.
BLE_OPTIONS: dict[str, Any] = {
    "client_backend": SimulatedBleakClient,
    "scanner_backend": SimulatedBleakScanner,
    "scan_timeout": 2.0,
}
#: Options for a BLE connection over bumble (:class:`VirtualAir`).
BUMBLE_OPTIONS: dict[str, Any] = {
    "client_backend": BumbleBleakClient,
    "scanner_backend": BumbleBleakScanner,
    "scan_timeout": 2.0,
}

_addresses = itertools.count(0x10)


def next_ble_address() -> str:
    """A fresh simulated Bluetooth address."""
    n = next(_addresses)
    return f"C0:FF:EE:AA:{n >> 8 & 255:02X}:{n & 255:02X}"


@contextlib.asynccontextmanager
async def device_url(kind: str, sim: SimulatedDevice) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The URL and connect options that reach ``sim`` over ``kind``."""
    protocol = sim.model.protocol
    # A byte-stream link cannot tell what speaks at its end: the URL says.
    named = "" if protocol == "nmp1" else f"protocol={protocol}"
    # The in-process simulator knows its own keys; any other link needs the user's.
    keys = {k: sim.model.protocol_options[k] for k in TUYA_KEYS} if protocol == "tuya_ble" else {}
    if kind == "sim":
        yield f"sim://{sim.model.name}", {"simulator": sim}
    elif kind == "pty":
        yield f"serial://{open_pty(sim)}?baud=115200{'&' if named else ''}{named}", keys
    elif kind == "tcp":
        server, port = await serve_tcp(sim, "127.0.0.1", 0)
        try:
            yield f"tcp://127.0.0.1:{port}{'?' if named else ''}{named}", keys
        finally:
            server.close()
    elif kind == "ble":
        address = next_ble_address()
        BLE_REGISTRY.add(sim, address=address)
        try:
            yield f"ble://{address}", {**BLE_OPTIONS, **keys}
        finally:
            BLE_REGISTRY.remove(address)
    elif kind == "bumble":
        address = next_ble_address()
        async with VirtualAir() as air:
            await air.add_central()
            await air.add_peripheral(sim, address)
            yield f"ble://{address}", {**BUMBLE_OPTIONS, **keys}
    else:
        raise ValueError(f"unknown transport kind {kind!r}")


def run(kind: str, scenario: Callable[[], Awaitable[T]]) -> T:
    """Run ``scenario`` on the virtual clock (in-process) or in real time."""

    virtual = kind in VIRTUAL_CLOCK

    async def bounded() -> T:
        # On the virtual clock a long session is cheap; pytest-timeout guards wall time.
        async with asyncio.timeout(24 * 3600 if virtual else 60):
            return await scenario()

    if virtual:
        return run_virtual(bounded)
    return asyncio.run(bounded())


def with_device(
    kind: str,
    body: Callable[[Device, SimulatedDevice], Awaitable[T]],
    *,
    model: str | DeviceModel = "heat4",
    faults: FaultConfig | None = None,
    battery_pct: float | None = None,
    **options: Any,
) -> T:
    """Start a simulator, connect to it over ``kind`` and run ``body(device, sim)``."""

    async def scenario() -> T:
        sim = SimulatedDevice(model, faults=faults, battery_pct=battery_pct)
        await sim.start()
        try:
            async with device_url(kind, sim) as (url, extra):
                options.setdefault("limits", FAST_RAMP)
                async with massager_sdk.connect(url, **extra, **options) as device:
                    return await body(device, sim)
        finally:
            await sim.stop()

    return run(kind, scenario)


async def wait_for(predicate: Callable[[], bool], what: str, within: float = PATIENCE_S) -> None:
    """Wait (on the loop's clock) until ``predicate()`` holds; else fail naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"still waiting after {within} s for {what}")
        await asyncio.sleep(0.01)
