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

from massager_simulator.clock import speed_query

from massager_sdk.errors import ConnectionFailed
from massager_sdk.transports.base import StreamTransport, bad_url, check_options
from massager_sdk.transports.speed import check_host_clock, query_speed


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
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        unknown = sorted(set(query) - {"speed"})
        if unknown:
            raise bad_url(
                text, f"unknown query part {', '.join(unknown)}; only speed=", cls.url_forms
            )
        speed = query_speed(text, query, cls.url_forms)
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
        return f"tcp://{host}:{self.port}{speed_query(self.speed)}"

    async def _open_streams(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        check_host_clock(self.description, self.speed)
        try:
            # connect_timeout is real time (the network's), whatever the clock's speed.
            async with asyncio.timeout(self.connect_timeout * self.speed):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except (OSError, TimeoutError) as exc:
            raise ConnectionFailed(f"cannot connect to {self.description}: {exc}") from exc
        return reader, writer
