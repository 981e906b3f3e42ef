"""Warm the heater to 40 C for a few seconds and watch the temperature.

python examples/heat.py [URL]

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


async def main(url: str | None) -> None:
    async with massager_sdk.connect(url) as device:
        if device.info.heat is None:
            print(f"{device.info.model} has no heater")
            return
        try:
            await device.set_heat(44.0)
        except massager_sdk.SafetyRefusal as refusal:  # above the 42 C default limit
            print("refused:", refusal)
        await device.set_heat(40.0)
        await device.flush()
        for _ in range(4):
            status = await device.status()
            print(f"target {status.heat_target_c} C, pad at {status.temperature_c} C")
            await asyncio.sleep(1.0)
        await device.set_heat(None)
        await device.flush()
        print("heater off:", (await device.status()).heat_target_c is None)


if __name__ == "__main__":
    run(
        main(sys.argv[1] if len(sys.argv) > 1 else None),
        speed=float(os.environ.get("MASSAGER_SPEED", "1")),
    )
