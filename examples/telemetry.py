"""Read the device's status reports and events as they arrive.

python examples/telemetry.py [URL]
"""

from __future__ import annotations

import os
import sys

from massager_simulator.clock import run

import massager_sdk
from massager_sdk import DeviceEvent, DeviceStatus


async def main(url: str | None) -> None:
    async with massager_sdk.connect(url) as device:
        device.on_event(lambda event: print("event:", event.kind.value, event.detail))
        await device.set_intensity(2)
        reports = 0
        async with device.telemetry() as stream:  # bounded: a slow reader loses the oldest
            async for item in stream:
                if isinstance(item, DeviceStatus):
                    reports += 1
                    print(
                        f"status: levels {item.intensities}, battery {item.battery_pct} %, "
                        f"auto-off in {item.auto_off_s} s"
                    )
                elif isinstance(item, DeviceEvent):
                    print("telemetry event:", item.kind.value)
                if reports == 3:
                    break


if __name__ == "__main__":
    run(
        main(sys.argv[1] if len(sys.argv) > 1 else None),
        speed=float(os.environ.get("MASSAGER_SPEED", "1")),
    )
