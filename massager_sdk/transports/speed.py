"""``?speed=X``: a simulated device served faster than real time says so in its URL.

``massager simulate --speed 10`` serves a device whose clock runs ten times
faster than real time, and prints its URL with ``?speed=10``, on TCP and on a
pseudo-terminal alike (``tcp://HOST:PORT?speed=10``,
``serial:///dev/pts/N?speed=10``). A host must then run its own clock at that
speed: the device's watchdog counts device time, so a host keeping real time
would feed it ten times too slowly. This module is the one place that reads the
speed from a URL (:func:`speed_of`, :func:`query_speed`) and checks the host's
clock against it when a link opens (:func:`check_host_clock`).
"""

from __future__ import annotations

import asyncio
import math
import urllib.parse

from massager_sdk.errors import ConnectionFailed
from massager_sdk.transports.base import bad_url

#: How long a reply may take, in real time, from a device served at a speed: the link's
#: latency is real, and counts ``speed`` times over on the device's clock.
REPLY_REAL_S = 0.01


def query_speed(text: str, query: dict[str, list[str]], forms: tuple[str, ...]) -> float:
    """The ``speed=X`` of a parsed URL query (1 without one); a clear error for a bad one."""
    values = query.get("speed", ["1"])
    try:
        speed = float(values[-1])
    except ValueError:
        speed = math.nan
    if len(values) != 1 or not (speed > 0 and math.isfinite(speed)):
        raise bad_url(text, f"speed= must be one finite number above 0, got {values}", forms)
    return speed


def speed_of(url: str | None) -> float | None:
    """The speed a device URL carries (``None`` without ``speed=``).

    Raises :class:`~massager_sdk.errors.BadURLError` for a ``speed=`` that is
    not one finite number above 0.
    """
    if not url:
        return None
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query, keep_blank_values=True)
    if "speed" not in query:
        return None
    return query_speed(url, query, ("...?speed=X, X a finite number above 0",))


def reply_timeout(speed: float | None) -> float | None:
    """A reply timeout (device time) for a device served at ``speed``: at least
    ``REPLY_REAL_S`` of real time (1 s of device time is a millisecond at 1000x,
    less than a loaded machine may take to answer); ``None`` when the default fits."""
    if speed is None or not speed > 1:
        return None
    return max(1.0, REPLY_REAL_S * speed)


def check_host_clock(description: str, speed: float) -> None:
    """Refuse a host whose clock runs at another speed than the device's.

    Called as a link opens, before anything is switched on: with different
    clocks the keepalive would come too late (or a program play at the wrong
    pace) and the device's watchdog would stop it. On a scaled clock the time
    owed at once is then held to what a real link tolerates.
    """
    from massager_simulator.clock import REMOTE_MAX_BEHIND_S, ScaledTimeEventLoop, clock_speed

    host_speed = clock_speed()
    if host_speed != speed:
        raise ConnectionFailed(
            f"{description} runs {speed:g}x faster than real time but this "
            f"host's clock runs at {host_speed:g}x: run the host at the device's speed "
            f"(the CLI and massager_sdk.sync.connect do so from the URL; in asynchronous "
            f"Python, massager_simulator.clock.run(main(), speed={speed:g}))"
        )
    loop = asyncio.get_running_loop()
    if isinstance(loop, ScaledTimeEventLoop):
        # The device keeps its own time across a real link: a clock racing through
        # time owed would fire reply timeouts before a reply could arrive.
        loop.limit_behind(REMOTE_MAX_BEHIND_S)


__all__ = [
    "REPLY_REAL_S",
    "check_host_clock",
    "query_speed",
    "reply_timeout",
    "speed_of",
]
