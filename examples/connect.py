"""Connect to a massager and print what it can do.

python examples/connect.py                 # the embedded simulator
python examples/connect.py tcp://127.0.0.1:7000
"""

from __future__ import annotations

import os
import sys

from massager_simulator.clock import run

import massager_sdk


async def main(url: str | None) -> None:
    async with massager_sdk.connect(url) as device:
        info = device.info
        print(f"connected to {info.model} (serial {info.serial}, firmware {info.firmware})")
        print(f"protocol {info.protocol}, levels 0..{info.intensity_steps}")
        for zone in info.zones:
            print(f"zone {zone.index}: {zone.name} ({zone.position.name.lower()})")
        if info.heat is not None:
            print(f"heater: presets {info.heat.targets_c} C, limit {info.heat.limit_c} C")
        status = await device.status()
        print(f"battery: {status.battery_pct} %")


if __name__ == "__main__":
    # MASSAGER_SPEED=20 runs the simulator's clock 20 times faster.
    run(
        main(sys.argv[1] if len(sys.argv) > 1 else None),
        speed=float(os.environ.get("MASSAGER_SPEED", "1")),
    )
