"""``tcp://HOST:PORT``: a device (or a serial-to-network bridge) on a TCP socket.

A simulated device served faster than real time (``massager simulate --tcp
... --speed 10``) prints its URL as ``tcp://HOST:PORT?speed=10``: the host must
run its clock at that speed too (its keepalive, timers and programs scale with
it), so opening such a URL on a loop of another speed fails and says how.
"""

from __future__ import annotations

import asyncio
import math
import urllib.parse
from typing import Any, ClassVar

from massager_sdk.errors import ConnectionFailed
from massager_sdk.transports.base import StreamTransport, bad_url, check_options


class TcpTransport(StreamTransport):
    """A plain byte stream over TCP (asyncio streams)."""

    scheme: ClassVar[str] = "tcp"
    url_forms: ClassVar[tuple[str, ...]] = ("tcp://HOST:PORT", "tcp://HOST:PORT?speed=X")

    def __init__(
        self,
        host: str,
        port: int,
        *,
        connect_timeout: float = 5.0,
        min_gap_s: float | None = None,
        speed: float = 1.0,
    ) -> None:
        super().__init__(min_gap_s=min_gap_s)
        if not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"speed must be a finite number above 0, got {speed!r}")
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        #: How many times faster than real time the device's clock runs (a simulator's).
        self.speed = speed

    @classmethod
    def from_url(cls, text: str, url: urllib.parse.SplitResult, **options: Any) -> TcpTransport:
        """``tcp://HOST:PORT[?speed=X]``; options ``connect_timeout`` and ``min_gap_s``."""
        check_options(cls, text, options, {"connect_timeout", "min_gap_s"})
        if url.path not in ("", "/") or url.fragment:
            raise bad_url(text, "a TCP URL has no path", cls.url_forms)
        speed = url_speed(text, url, cls.url_forms)
        try:
            port = url.port
        except ValueError as exc:
            raise bad_url(text, f"the port is not valid ({exc})", cls.url_forms) from None
        if not url.hostname:
            raise bad_url(text, "the host is missing", cls.url_forms)
        if port is None or port == 0:
            raise bad_url(text, "the port is missing (1..65535)", cls.url_forms)
        return cls(url.hostname, port, speed=speed, **options)

    @property
    def description(self) -> str:
        """``tcp://HOST:PORT``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        speed = "" if self.speed == 1 else f"?speed={self.speed:g}"
        return f"tcp://{host}:{self.port}{speed}"

    async def _open_streams(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        from massager_simulator.clock import REMOTE_MAX_BEHIND_S, ScaledTimeEventLoop, clock_speed

        host_speed = clock_speed()
        if host_speed != self.speed:
            # Different clocks: the keepalive would come too late (or the program
            # run at the wrong pace), and the device's watchdog would stop it.
            raise ConnectionFailed(
                f"{self.description} runs {self.speed:g}x faster than real time but this "
                f"host's clock runs at {host_speed:g}x: run the host at the device's speed "
                f"(the CLI does so from the URL; in Python, "
                f"massager_simulator.clock.run(main(), speed={self.speed:g}))"
            )
        loop = asyncio.get_running_loop()
        if isinstance(loop, ScaledTimeEventLoop):
            # The device keeps its own time across a real link: a clock racing through
            # time owed would fire reply timeouts before a reply could arrive.
            loop.limit_behind(REMOTE_MAX_BEHIND_S)
        try:
            # connect_timeout is real time (the network's), whatever the clock's speed.
            async with asyncio.timeout(self.connect_timeout * self.speed):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except (OSError, TimeoutError) as exc:
            raise ConnectionFailed(f"cannot connect to {self.description}: {exc}") from exc
        return reader, writer


def url_speed(text: str, url: urllib.parse.SplitResult, forms: tuple[str, ...]) -> float:
    """The ``speed=X`` of a URL's query (1 without one); a clear error for anything else."""
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"speed"})
    if unknown:
        raise bad_url(text, f"unknown query part {', '.join(unknown)}; only speed=", forms)
    values = query.get("speed", ["1"])
    try:
        speed = float(values[-1])
    except ValueError:
        speed = math.nan
    if len(values) != 1 or not (speed > 0 and math.isfinite(speed)):
        raise bad_url(text, "speed= must be one finite number above 0", forms)
    return speed
