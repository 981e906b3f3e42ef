"""Which clock a verb runs on: real time, or a simulator's ``--speed``.

The embedded simulator (``sim://``) shares the verb's event loop, so ``--speed
X`` runs both at X times real time. A device that ``massager simulate --speed
X`` serves in another process says its speed in the URL it prints
(``tcp://HOST:PORT?speed=X``); the verb then runs its own clock at that speed,
so its keepalive, ``--for`` and programs keep the device's time.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Coroutine
from typing import Any, TypeVar

from massager_sdk.errors import BadURLError
from massager_sdk.transports.speed import reply_timeout, speed_of

T = TypeVar("T")


def url_speed(url: str) -> float | None:
    """The ``speed=X`` a device URL carries (``None`` without one, or with a bad one:
    the transport then says what is wrong with it)."""
    try:
        return speed_of(url)
    except BadURLError:
        return None


def device_speed(args: argparse.Namespace) -> float | None:
    """The verb's clock speed: ``--speed`` for ``sim://``, else the URL's ``speed=``."""
    flag: float | None = getattr(args, "speed", None)
    device: str = args.device
    served = url_speed(device)
    if flag is None:
        return None if served == 1 else served
    if not (flag > 0 and math.isfinite(flag)):
        raise ValueError(f"--speed must be a finite number above 0, got {flag:g}")
    if device.startswith("sim://") or served == flag:
        return flag
    if served is not None:
        raise ValueError(
            f"--speed {flag:g} contradicts the device URL, whose simulator runs at "
            f"{served:g}x: leave --speed out (the URL's speed is used)"
        )
    raise ValueError(
        f"--speed only applies to the simulator (sim://), not to {device}: a real device "
        "runs in real time (a device served by `massager simulate --speed X` prints a URL "
        "ending in ?speed=X, which sets the speed by itself)"
    )


def speed_options(args: argparse.Namespace) -> dict[str, Any]:
    """Options for :func:`massager_sdk.connect` that a served device's speed calls for
    (a reply timeout of real-time length: :func:`~massager_sdk.transports.speed.reply_timeout`)."""
    timeout = reply_timeout(url_speed(args.device))
    return {} if timeout is None else {"timeout": timeout}


def run_at_device_speed(main: Coroutine[Any, Any, T], args: argparse.Namespace) -> T:
    """``asyncio.run(main)`` on the clock :func:`device_speed` chooses."""
    from massager_simulator.clock import run

    try:
        speed = device_speed(args)
    except ValueError:
        main.close()
        raise
    return run(main, speed=speed)
