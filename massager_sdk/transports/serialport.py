"""``serial:///dev/ttyUSB0?baud=115200``: a device on a serial port (USB-UART, pty).

A simulated device served faster than real time on a pseudo-terminal
(``massager simulate --serial --speed 10``) prints its URL with ``?speed=10``
(``serial:///dev/pts/N?speed=10``), as on TCP: the host runs its clock at that
speed too, and opening the port on a clock of another speed fails and says how
(:mod:`massager_sdk.transports.speed`).
"""

from __future__ import annotations

import asyncio
import math
import urllib.parse
from typing import Any, ClassVar

import serial_asyncio_fast
from massager_simulator.clock import speed_query

from massager_sdk.errors import ConnectionFailed
from massager_sdk.transports.base import StreamTransport, bad_url, check_options
from massager_sdk.transports.speed import check_host_clock, query_speed

DEFAULT_BAUD = 115200


class SerialTransport(StreamTransport):
    """A byte stream on a serial port (pyserial-asyncio-fast)."""

    scheme: ClassVar[str] = "serial"
    url_forms: ClassVar[tuple[str, ...]] = (
        "serial:///dev/ttyUSB0?baud=115200",
        "serial://COM3?baud=115200",
        "serial:///dev/pts/N?speed=X",
    )

    def __init__(
        self,
        port: str,
        *,
        baud: int = DEFAULT_BAUD,
        connect_timeout: float = 5.0,
        min_gap_s: float | None = None,
        speed: float = 1.0,
    ) -> None:
        super().__init__(min_gap_s=min_gap_s)
        if not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"speed must be a finite number above 0, got {speed!r}")
        self.port = port
        self.baud = baud
        self.connect_timeout = connect_timeout
        #: How many times faster than real time the device's clock runs (a simulator's).
        self.speed = speed

    @classmethod
    def from_url(cls, text: str, url: urllib.parse.SplitResult, **options: Any) -> SerialTransport:
        """``serial://PATH[?baud=N][&speed=X]``; options ``baud``, ``connect_timeout`` and
        ``min_gap_s``."""
        check_options(cls, text, options, {"baud", "connect_timeout", "min_gap_s"})
        # serial:///dev/ttyUSB0 has the path in .path; serial://COM3 in .netloc.
        port = urllib.parse.unquote(url.netloc + url.path)
        if not port or port == "/":
            raise bad_url(text, "the serial port path is missing", cls.url_forms)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        unknown = sorted(set(query) - {"baud", "speed"})
        if unknown or url.fragment:
            raise bad_url(
                text,
                f"unknown query part {', '.join(unknown) or '#'}; only baud= and speed= "
                "are accepted",
                cls.url_forms,
            )
        speed = query_speed(text, query, cls.url_forms)
        baud = options.pop("baud", None)
        if "baud" in query:
            values = query["baud"]
            if len(values) != 1 or not values[0].isdigit() or int(values[0]) <= 0:
                raise bad_url(text, f"baud must be a positive integer, got {values}", cls.url_forms)
            baud = int(values[0])
        baud = DEFAULT_BAUD if baud is None else int(baud)
        return cls(port, baud=baud, speed=speed, **options)

    @property
    def description(self) -> str:
        """``serial://PORT`` (``?speed=X`` for a device served faster than real time)."""
        return f"serial://{self.port}{speed_query(self.speed)}"

    async def _open_streams(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        check_host_clock(self.description, self.speed)
        try:
            # connect_timeout is real time, whatever the clock's speed.
            async with asyncio.timeout(self.connect_timeout * self.speed):
                reader, writer = await serial_asyncio_fast.open_serial_connection(
                    url=self.port, baudrate=self.baud
                )
        except (OSError, TimeoutError, ValueError) as exc:  # SerialException is an OSError
            raise ConnectionFailed(f"cannot open {self.description}: {exc}") from exc
        return reader, writer
