"""The same client without async: for short scripts.

python examples/sync_script.py [URL]

It runs under your health profile, as every face does: ``$MASSAGER_HEALTH_PROFILE`` or
your profile file, acknowledged once with ``massager health acknowledge`` (a script may
pass its own: ``connect(url, health_profile=load_profile(path))``); docs/safety.md.
"""

from __future__ import annotations

import os
import sys

import massager_sdk.sync


def main(url: str | None) -> None:
    speed = float(os.environ.get("MASSAGER_SPEED", "1"))
    with massager_sdk.sync.connect(url, speed=None if speed == 1 else speed) as device:
        print("connected to", device.info.model)
        device.set_intensity(2)
        device.flush()
        device.sleep(1.0)
        print("levels:", device.status().intensities)
    print("left the block: the device is stopped")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
