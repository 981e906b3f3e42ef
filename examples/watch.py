"""Watch a device that another host drives, without taking control of it.

python examples/watch.py [URL]

With a URL (say ``tcp://127.0.0.1:7000`` from ``massager simulate --tcp``, while
``massager set`` drives it), it follows that device. Without one, it starts a
simulated device and a second host that drives it for a few seconds. Either way
it prints what the device reports until the device goes from on to off, and
leaves the device as it found it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from massager_simulator import SimulatedDevice
from massager_simulator.clock import run

import massager_sdk
from massager_sdk import DeviceEvent, DeviceStatus


@contextlib.asynccontextmanager
async def another_host() -> AsyncIterator[dict[str, Any]]:
    """A simulated heat4 that another host drives at level 2 for three seconds."""
    async with SimulatedDevice("heat4") as sim:

        async def drive() -> None:
            async with massager_sdk.connect("sim://heat4", simulator=sim) as device:
                await device.set_intensity(2)
                await asyncio.sleep(3)
            # Leaving the block stopped the device.

        driver = asyncio.create_task(drive())
        try:
            yield {"simulator": sim}
        finally:
            await driver


async def watch(url: str, options: dict[str, Any]) -> None:
    async with massager_sdk.connect(url, control=False, **options) as monitor:
        print(f"watching {monitor.describe()}; in control: {monitor.in_control}")
        seen_on = False
        async with monitor.telemetry() as stream:
            async for item in stream:
                if isinstance(item, DeviceStatus):
                    print(f"status: levels {item.intensities}, heat {item.heat_target_c}")
                    running = any(item.intensities) or item.heat_target_c is not None
                    if seen_on and not running:
                        break
                    seen_on = seen_on or running
                elif isinstance(item, DeviceEvent):
                    print("event:", item.kind.value, item.detail)
    print("the device went off; the monitor left it as it was")


async def main(url: str | None) -> None:
    if url is not None:
        await watch(url, {})
        return
    async with another_host() as options:
        await watch("sim://heat4", options)


if __name__ == "__main__":
    run(
        main(sys.argv[1] if len(sys.argv) > 1 else None),
        speed=float(os.environ.get("MASSAGER_SPEED", "1")),
    )
