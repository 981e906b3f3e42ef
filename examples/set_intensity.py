"""Drive the zones: all of them, one by name, a wave; then stop.

python examples/set_intensity.py [URL]

It runs under your health profile, as every face does: ``$MASSAGER_HEALTH_PROFILE`` or
your profile file, acknowledged once with ``massager health acknowledge`` (a script may
pass its own: ``connect(url, health_profile=load_profile(path))``); docs/safety.md.
"""

from __future__ import annotations

import asyncio
import os
import sys

from massager_simulator.clock import run

import massager_sdk
from massager_sdk import Waveform


async def main(url: str | None) -> None:
    async with massager_sdk.connect(url) as device:
        await device.set_intensity(3)  # every zone; rises gently (soft start)
        await device.flush()  # returns once the device confirmed level 3
        await asyncio.sleep(0.5)  # the motors spin up
        print("all zones:", (await device.status()).intensities)

        first = device.info.zones[0].name
        await device.set_intensity(5, first, waveform=Waveform.WAVE, period=2.0)
        await device.flush()
        await asyncio.sleep(1.0)
        print(f"{first} swells between 0 and 5:", (await device.status()).intensities)

        await device.stop()
        print("stopped:", (await device.status()).intensities)


if __name__ == "__main__":
    run(
        main(sys.argv[1] if len(sys.argv) > 1 else None),
        speed=float(os.environ.get("MASSAGER_SPEED", "1")),
    )
