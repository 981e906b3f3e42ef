"""The golden traces of device-initiated sequences, replayed against the simulator.

Each trace in ``nmp1.json`` lists the host's frames, the bench's actions (a
button press, a heater stuck on, a fast battery drain) and the frames a
conforming device then sends on its own, in order. The simulator must send
them, at the times given where a time is given.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from massager_protocols.nmp import Event, Keepalive, Message, Status, StreamDecoder, encode
from massager_protocols.vectors import load
from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual

TRACES: list[dict[str, Any]] = load("nmp1")["traces"]
#: A device-initiated frame is due at the time given, or within one control tick after.
TICK_MS = 250


def test_every_device_initiated_sequence_has_a_trace() -> None:
    names = " ".join(t["name"] for t in TRACES)
    for sequence in ("watchdog", "auto-off", "button", "overheat", "low battery"):
        assert sequence in names


def _bench(sim: SimulatedDevice, action: str) -> None:
    if action == "press_button":
        sim.press_button()
    elif action == "heater_stuck_on":
        sim.inject(heater_stuck_on=True)
    elif action == "drain_fast":
        sim.inject(drain=10.0)
    else:
        raise AssertionError(f"unknown bench action {action!r}")


async def _replay(trace: dict[str, Any]) -> tuple[list[Message], list[tuple[float, Message]]]:
    options = {"battery_pct": trace["battery_pct"]} if "battery_pct" in trace else {}
    async with SimulatedDevice(trace["model"], **options) as sim:
        loop = asyncio.get_running_loop()
        link = sim.connect()
        decoder = StreamDecoder()
        start = loop.time()
        replies: list[Message] = []
        unprompted: list[tuple[float, Message]] = []

        async def read() -> None:
            with contextlib.suppress(ConnectionError):
                while True:
                    for frame in decoder.feed(await link.read()):
                        message = frame.message()
                        if frame.seq:
                            replies.append(message)
                        else:
                            unprompted.append(((loop.time() - start) * 1000, message))

        reader = asyncio.ensure_future(read())
        steps = [(h["at_ms"], "host", h) for h in trace["host"]]
        steps += [(b["at_ms"], "bench", b) for b in trace["bench"]]
        seq = len(trace["host"])
        for at_ms, kind, step in sorted(steps, key=lambda s: (s[0], s[1] == "bench")):
            await asyncio.sleep(max(0.0, start + at_ms / 1000 - loop.time()))
            if kind == "host":
                await link.write(bytes.fromhex(step["host_hex"]))
            else:
                _bench(sim, step["action"])
        every = trace["keepalive_ms"]
        end = start + trace["until_ms"] / 1000
        while loop.time() < end:
            await asyncio.sleep(min(end - loop.time(), (every or 10**9) / 1000))
            if every and loop.time() < end:
                seq = seq % 255 + 1
                await link.write(encode(Keepalive(), seq))
        link.close()
        reader.cancel()
        return replies, unprompted


def _matches(message: Message, step: dict[str, Any]) -> bool:
    if message.TYPE.name != step["device"]:
        return False
    fields = step["fields"]
    if isinstance(message, Event):
        return all(getattr(message, k) == v for k, v in fields.items())
    assert isinstance(message, Status)
    if "heat_target_dc" in fields and message.heat_target_dc != fields["heat_target_dc"]:
        return False
    if fields.get("zones_off") and any(message.intensities):
        return False
    flag = int(fields.get("faults_set", 0))
    return message.faults & flag == flag


@pytest.mark.parametrize("trace", TRACES, ids=[t["name"] for t in TRACES])
def test_golden_trace(trace: dict[str, Any]) -> None:
    replies, unprompted = run_virtual(lambda: _replay(trace))
    assert [r.TYPE.name for r in replies[: len(trace["host"])]] == [
        h["reply"] for h in trace["host"]
    ]
    position = 0
    for step in trace["device"]:
        found = next(
            (i for i in range(position, len(unprompted)) if _matches(unprompted[i][1], step)),
            None,
        )
        assert found is not None, f"{step} not sent after frame {position}: {unprompted[position:]}"
        at_ms, message = unprompted[found]
        if step["at_ms"] is not None:
            assert step["at_ms"] - 1 <= at_ms <= step["at_ms"] + TICK_MS, (at_ms, step)
        if "device_hex" in step:
            assert encode(message, 0).hex(" ") == step["device_hex"]
        position = found + 1
