"""A function as a test device, for trying an adapter before any simulator exists.

:class:`MockLink` is a transport whose device is ``handler(bytes) -> bytes``:
every write goes to the handler and whatever it returns comes back as the
device's answer (``b""``: no answer). :meth:`MockLink.push` sends bytes the
device says unprompted. Importing this module serves ``mock://`` URLs, so a
whole session runs against the function::

    from massager_sdk.protocols.testing import MockLink

    def device(data: bytes) -> bytes:
        return b"=0\\n" if data == b"Q\\n" else b"!UNKNOWN\\n"

    async with massager_sdk.connect("mock://", handler=device, protocol="toy") as dev: ...
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Callable
from typing import Any, ClassVar

from massager_sdk.transports import register_transport
from massager_sdk.transports.base import Transport, bad_url, check_options

Handler = Callable[[bytes], bytes]


class MockLink(Transport):
    """A link to ``handler``: each write's bytes in, the handler's answer back."""

    scheme: ClassVar[str] = "mock"
    url_forms: ClassVar[tuple[str, ...]] = ("mock:// (with handler=)",)

    def __init__(
        self, handler: Handler, *, mtu: int = 4096, min_gap_s: float | None = None
    ) -> None:
        super().__init__(min_gap_s=min_gap_s)
        if not callable(handler):
            raise TypeError(f"handler must be a function bytes -> bytes, got {handler!r}")
        self.handler = handler
        self._mtu = mtu
        #: Every write, in order (what the device was sent).
        self.written: list[bytes] = []

    @classmethod
    def from_url(cls, text: str, url: urllib.parse.SplitResult, **options: Any) -> MockLink:
        """``mock://``; options ``handler`` (required), ``mtu`` and ``min_gap_s``."""
        check_options(cls, text, options, {"handler", "mtu", "min_gap_s"})
        if url.netloc or url.path not in ("", "/") or "handler" not in options:
            raise bad_url(text, "a mock link is mock:// with a handler= function", cls.url_forms)
        return cls(**options)

    @property
    def description(self) -> str:
        """``mock://`` and the handler's name."""
        return f"mock://{getattr(self.handler, '__name__', 'handler')}"

    @property
    def mtu(self) -> int:
        """The largest single write."""
        return self._mtu

    async def _open(self) -> None:
        pass

    async def _close(self) -> None:
        pass

    async def _write_chunk(self, chunk: bytes) -> None:
        self.written.append(chunk)
        answer = self.handler(chunk)
        if answer:
            # Answered on the next loop turn, as bytes from a real link arrive.
            asyncio.get_running_loop().call_soon(self._deliver, bytes(answer))

    def push(self, data: bytes) -> None:
        """Bytes the device sends unprompted."""
        self._deliver(bytes(data))


register_transport(MockLink.scheme, MockLink)
