"""A flood of output calls: bounded pending work, the last value wins."""

from __future__ import annotations

import asyncio
import random

import pytest
from massager_simulator import SimulatedDevice

from massager_sdk.client import Device
from tests.client.rig import PROTOCOL_MODELS, with_device

CALLS = 10_000


@pytest.mark.parametrize(
    ("kind", "protocol"),
    [("sim", "nmp1"), ("tcp", "nmp1"), ("sim", "yh"), ("sim", "tuya_ble")],
)
def test_ten_thousand_calls_in_a_second_coalesce(kind: str, protocol: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        loop = asyncio.get_running_loop()
        rng = random.Random(7)
        steps = device.info.intensity_steps
        outputs = len(device.info.zones) + 1  # the zones and the heater
        most_pending = most_in_flight = 0
        start = loop.time()
        level = 0
        # Calls asking for the level the device already has: they need no command,
        # and on a one-zone device they are frequent enough to count.
        settled = 0
        for i in range(CALLS):
            level = rng.randint(0, steps)
            zone = None if i % 3 else rng.randrange(len(device.info.zones))
            targets = range(len(device.info.zones)) if zone is None else [zone]
            settled += all(sim.commanded[z] == level for z in targets)
            await device.set_intensity(level, zone)
            most_pending = max(most_pending, device.pending_outputs)
            most_in_flight = max(most_in_flight, device.requests_in_flight)
            # Spread the calls over (at most) a second on the loop's clock.
            if i % 10 == 0:
                await asyncio.sleep(10 / CALLS)
        await device.set_intensity(level)
        elapsed = loop.time() - start
        await device.flush()
        assert sim.commanded == (level,) * len(device.info.zones)
        assert most_pending <= outputs
        assert most_in_flight <= 2  # one output command, and a keepalive or status at most
        gap = max(device.transport.min_gap_s, device.info.min_gap_s)
        # One command per gap while the flood lasts, then the last value (ramped).
        assert device.stats.output_commands <= elapsed / gap + 2 * steps + 2
        assert device.stats.coalesced >= CALLS - device.stats.output_commands - 1 - settled
        assert device.safety.snapshot(loop.time()).violations == 0

    with_device(kind, body, model=PROTOCOL_MODELS[protocol])
