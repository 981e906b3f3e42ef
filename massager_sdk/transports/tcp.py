"""``tcp://HOST:PORT``: a device (or a serial-to-network bridge) on a TCP socket."""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any, ClassVar

from massager_sdk.errors import ConnectionFailed
from massager_sdk.transports.base import StreamTransport, bad_url, check_options


class TcpTransport(StreamTransport):
    """A plain byte stream over TCP (asyncio streams)."""

    scheme: ClassVar[str] = "tcp"
    url_forms: ClassVar[tuple[str, ...]] = ("tcp://HOST:PORT",)

    def __init__(
        self, host: str, port: int, *, connect_timeout: float = 5.0, min_gap_s: float | None = None
    ) -> None:
        super().__init__(min_gap_s=min_gap_s)
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout

    @classmethod
    def from_url(cls, text: str, url: urllib.parse.SplitResult, **options: Any) -> TcpTransport:
        """``tcp://HOST:PORT``; options ``connect_timeout`` and ``min_gap_s``."""
        check_options(cls, text, options, {"connect_timeout", "min_gap_s"})
        if url.path not in ("", "/") or url.query or url.fragment:
            raise bad_url(text, "a TCP URL has no path or query", cls.url_forms)
        try:
            port = url.port
        except ValueError as exc:
            raise bad_url(text, f"the port is not valid ({exc})", cls.url_forms) from None
        if not url.hostname:
            raise bad_url(text, "the host is missing", cls.url_forms)
        if port is None or port == 0:
            raise bad_url(text, "the port is missing (1..65535)", cls.url_forms)
        return cls(url.hostname, port, **options)

    @property
    def description(self) -> str:
        """``tcp://HOST:PORT``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"

    async def _open_streams(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except (OSError, TimeoutError) as exc:
            raise ConnectionFailed(f"cannot connect to {self.description}: {exc}") from exc
        return reader, writer
