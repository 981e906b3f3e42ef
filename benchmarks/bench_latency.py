"""Call-to-acknowledgement latency of the client, per transport, against the simulator.

For each transport a client connects to a simulated heat4 and times
``await device.set_auto_off(600)`` (the call, the safety check, SET_AUTO_OFF on
the wire, the device's ACK and the waiting caller resumed) and
``await device.status()`` (GET_STATUS and its STATUS reply). The baseline, in
the same run and over the same link, is a bare loop that writes a KEEPALIVE
frame and reads until its ACK is decoded: the client's overhead is the ratio.
Client and simulator share one event loop in real time, so each figure covers
both ends of the link. The bumble row runs bleak over a real host stack (ATT,
L2CAP, HCI) on both sides, with virtual controllers on bumble's in-process
link and the MTU 517 the exchange settles on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import serial_asyncio_fast
from bleak import BleakClient
from massager_protocols.nmp import Keepalive, MsgType, StreamDecoder, encode
from massager_protocols.nmp.gatt import RX_CHAR_UUID, TX_CHAR_UUID
from massager_simulator import SimulatedDevice, open_pty, serve_tcp
from massager_simulator.ble import BLE_REGISTRY, SimulatedBleakClient, SimulatedBleakScanner
from massager_simulator.bumble import BumbleBleakClient, BumbleBleakScanner, VirtualAir

import massager_sdk
from benchmarks.harness import Report, Target, fmt, percentile

SAMPLES = 2000
WARMUP = 200
#: p99 bounds of the call-to-acknowledgement latency, in milliseconds.
TARGETS_MS = {"in-process": 1.0, "pty": 3.0, "tcp": 3.0}
BLE_ADDRESS = "C0:FF:EE:BE:0C:01"


async def _time(call: Callable[[], Awaitable[object]], samples: int) -> list[float]:
    for _ in range(WARMUP):
        await call()
    out = []
    for _ in range(samples):
        start = time.perf_counter()
        await call()
        out.append((time.perf_counter() - start) * 1000.0)
    return out


class _RawLink:
    """Bare frames over a byte link: the baseline."""

    def __init__(
        self, write: Callable[[bytes], Awaitable[None]], read: Callable[[], Awaitable[bytes]]
    ) -> None:
        self._write, self._read = write, read
        self._decoder = StreamDecoder()
        self._seq = 0

    async def keepalive(self) -> None:
        self._seq = self._seq % 255 + 1
        await self._write(encode(Keepalive(), self._seq))
        while True:
            for frame in self._decoder.feed(await self._read()):
                if frame.seq == self._seq and frame.msg_type == MsgType.ACK:
                    return


async def _baseline(kind: str, sim: SimulatedDevice) -> tuple[str, dict[str, Any], list[float]]:
    """Time the bare link of ``kind``, close it, and say how the client reaches ``sim``."""
    if kind == "pty":
        path = open_pty(sim)
        reader, writer = await serial_asyncio_fast.open_serial_connection(url=path, baudrate=115200)

        async def write(data: bytes) -> None:
            writer.write(data)
            await writer.drain()

        samples = await _time(_RawLink(write, lambda: reader.read(4096)).keepalive, SAMPLES)
        writer.close()  # one host at a time on a serial line
        return f"serial://{path}", {}, samples
    if kind == "tcp":
        _server, port = await serve_tcp(sim, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def write_tcp(data: bytes) -> None:
            writer.write(data)
            await writer.drain()

        samples = await _time(_RawLink(write_tcp, lambda: reader.read(4096)).keepalive, SAMPLES)
        writer.close()
        return f"tcp://127.0.0.1:{port}", {}, samples
    # In-process; for BLE the same link at the BLE payload size (20 bytes).
    end = sim.connect(mtu=None if kind == "in-process" else 20)
    samples = await _time(_RawLink(end.write, end.read).keepalive, SAMPLES)
    end.close()
    if kind == "in-process":
        return "sim://", {"simulator": sim}, samples
    BLE_REGISTRY.add(sim, address=BLE_ADDRESS)
    options = {"client_backend": SimulatedBleakClient, "scanner_backend": SimulatedBleakScanner}
    return f"ble://{BLE_ADDRESS}", options, samples


@contextlib.asynccontextmanager
async def _bumble(sim: SimulatedDevice) -> AsyncIterator[tuple[str, dict[str, Any], list[float]]]:
    """``sim`` as a bumble peripheral; the baseline: bare frames through BleakClient."""
    async with VirtualAir() as air:
        await air.add_central()
        await air.add_peripheral(sim, BLE_ADDRESS)
        async with BleakClient(BLE_ADDRESS, backend=BumbleBleakClient) as client:
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            await client.start_notify(TX_CHAR_UUID, lambda _, data: queue.put_nowait(bytes(data)))

            async def write(data: bytes) -> None:
                await client.write_gatt_char(RX_CHAR_UUID, data, response=False)

            samples = await _time(_RawLink(write, queue.get).keepalive, SAMPLES)
        options = {"client_backend": BumbleBleakClient, "scanner_backend": BumbleBleakScanner}
        yield f"ble://{BLE_ADDRESS}", options, samples


async def _measure(kind: str) -> dict[str, list[float]]:
    sim = SimulatedDevice("heat4")
    await sim.start()
    if kind == "bumble":
        try:
            async with (
                _bumble(sim) as (url, options, baseline),
                massager_sdk.connect(url, **options) as device,
            ):
                command = await _time(lambda: device.set_auto_off(600), SAMPLES)
                status = await _time(device.status, SAMPLES)
            return {"baseline": baseline, "command": command, "status": status}
        finally:
            await sim.stop()
    try:
        url, options, baseline = await _baseline(kind, sim)
        async with massager_sdk.connect(url, **options) as device:
            command = await _time(lambda: device.set_auto_off(600), SAMPLES)
            status = await _time(device.status, SAMPLES)
        return {"baseline": baseline, "command": command, "status": status}
    finally:
        BLE_REGISTRY.remove(BLE_ADDRESS)
        await sim.stop()


def run() -> Report:
    """Measure every transport and compare with the bare-link baseline."""
    rows: list[dict[str, str]] = []
    targets: list[Target] = []
    for kind in ("in-process", "pty", "tcp", "ble (simulated backend)", "bumble (host stack)"):
        figures = asyncio.run(_measure(kind.split(" ")[0]))
        base50 = percentile(figures["baseline"], 50)
        p50, p99 = percentile(figures["command"], 50), percentile(figures["command"], 99)
        rows.append(
            {
                "transport": kind,
                "command -> ACK p50 (ms)": fmt(p50),
                "command -> ACK p99 (ms)": fmt(p99),
                "status -> STATUS p50 (ms)": fmt(percentile(figures["status"], 50)),
                "status -> STATUS p99 (ms)": fmt(percentile(figures["status"], 99)),
                "bare link p50 (ms)": fmt(base50),
                "client / bare p50": fmt(p50 / base50),
            }
        )
        bound = TARGETS_MS.get(kind)
        if bound is not None:
            targets.append(Target(f"{kind} command -> ACK p99", p99, bound, "<=", " ms"))
    return Report(
        title="Client latency: call to acknowledgement",
        command="python -m benchmarks latency",
        table=rows,
        targets=targets,
        notes=(
            f"{SAMPLES} calls per figure after {WARMUP} warm-up calls, real time, client and "
            "simulated heat4 on one event loop. Command: `await device.set_auto_off(600)` "
            "(safety check, SET_AUTO_OFF, ACK). Bare link: KEEPALIVE frames written and their "
            "ACK decoded with the protocol package alone, over the same kind of link. BLE runs "
            "bleak's BleakClient over the simulator's backend (MTU 23), so it shows the cost of "
            "bleak and 20-byte writes, not radio latency. The bumble row runs bleak over "
            "bumble's host stack on both sides (ATT, L2CAP, HCI, virtual controllers on its "
            "in-process link, MTU 517): the cost of a real stack in Python, again without radio."
        ),
    )
