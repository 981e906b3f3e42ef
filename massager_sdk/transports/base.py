"""The transport base: move bytes to and from one device, nothing more.

A transport knows nothing of protocols, sequence numbers or safety. It opens a
link, writes bytes (split to its largest single write), hands every received
chunk to the session's ``on_data`` callback and reports a lost link once through
``on_lost``. A session may call :meth:`Transport.connect` again after a loss.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ClassVar

from massager_sdk.errors import BadURLError

_log = logging.getLogger(__name__)
#: Every write and every received chunk, at DEBUG, for wire traces: a record's
#: ``direction`` is ``"TX"`` or ``"RX"``, ``data`` the bytes and ``link`` the
#: link's description. Silent (and nearly free) unless a handler enables it.
WIRE_LOGGER = "massager_sdk.wire"
_wire = logging.getLogger(WIRE_LOGGER)

#: Called with each chunk of received bytes, in order.
DataCallback = Callable[[bytes], None]
#: Called once per connection when the link drops (``None``: closed by the peer).
LostCallback = Callable[[BaseException | None], None]


class Transport(abc.ABC):
    """Bytes out, bytes in, connection state and write size for one device link.

    Subclasses set ``scheme`` (the URL scheme) and ``url_forms`` (how their URLs
    look, quoted in error messages) and implement :meth:`from_url`,
    :meth:`_open`, :meth:`_close` and :meth:`_write_chunk`.
    """

    #: URL scheme this transport serves, e.g. ``"tcp"``.
    scheme: ClassVar[str]
    #: URL shapes this transport accepts, e.g. ``("tcp://HOST:PORT",)``.
    url_forms: ClassVar[tuple[str, ...]]
    #: Default smallest gap between output commands on this kind of link.
    default_min_gap_s: ClassVar[float] = 0.0

    def __init__(self, *, min_gap_s: float | None = None) -> None:
        if min_gap_s is not None and not min_gap_s >= 0:
            raise ValueError(f"min_gap_s must be a number >= 0 seconds, got {min_gap_s!r}")
        self._min_gap_s = self.default_min_gap_s if min_gap_s is None else float(min_gap_s)
        self._on_data: DataCallback | None = None
        self._on_lost: LostCallback | None = None
        self._connected = False  # the link is up
        self._opened = False  # resources are held (a lost link still needs closing)
        self._reader: asyncio.Task[None] | None = None

    # -- what subclasses provide --------------------------------------------

    @classmethod
    @abc.abstractmethod
    def from_url(cls, text: str, url: urllib.parse.SplitResult, **options: Any) -> Transport:
        """Build a transport from a URL (as given, and split); :class:`BadURLError` if it
        is malformed, ``TypeError`` for an option the transport does not take."""

    @abc.abstractmethod
    async def _open(self) -> None:
        """Open the link (called by :meth:`connect`)."""

    @abc.abstractmethod
    async def _close(self) -> None:
        """Close the link (called by :meth:`disconnect`); must not raise on a dead link."""

    @abc.abstractmethod
    async def _write_chunk(self, chunk: bytes) -> None:
        """Write at most :attr:`mtu` bytes."""

    @property
    def mtu(self) -> int:
        """The largest single write in bytes (for BLE, the ATT MTU minus 3)."""
        return 4096

    @property
    def description(self) -> str:
        """A short human-readable name of the link, for messages and logs."""
        return self.scheme

    # -- the interface a session uses ---------------------------------------

    @property
    def min_gap_s(self) -> float:
        """The smallest gap this link keeps between output commands, in seconds."""
        return self._min_gap_s

    @property
    def connected(self) -> bool:
        """Whether the link is open."""
        return self._connected

    def set_receiver(self, on_data: DataCallback, on_lost: LostCallback) -> None:
        """Where received bytes and the news of a lost link go."""
        self._on_data = on_data
        self._on_lost = on_lost

    async def connect(self) -> None:
        """Open the link. Raises ``ConnectionFailed`` (or ``OSError``) if it cannot."""
        if self._connected:
            return
        if self._opened:
            await self.disconnect()
        await self._open()
        self._opened = True
        self._connected = True

    async def disconnect(self) -> None:
        """Close the link; :meth:`connect` may open it again. Never raises."""
        was = self._opened
        self._connected = self._opened = False
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        if was:
            try:
                await self._close()
            except Exception:  # a link that is already dead cannot be closed twice
                _log.debug("closing %s", self.description, exc_info=True)

    async def close(self) -> None:
        """Close the link and release everything the transport owns."""
        await self.disconnect()

    async def write(self, data: bytes) -> None:
        """Write bytes, split into writes of at most :attr:`mtu` bytes.

        Raises ``ConnectionError`` when the link is not open.
        """
        if not self._connected:
            raise ConnectionError(f"{self.description} is not connected")
        if _wire.isEnabledFor(logging.DEBUG):
            _trace("TX", self.description, data)
        for chunk in split(data, self.mtu):
            await self._write_chunk(chunk)

    # -- for subclasses -------------------------------------------------------

    def _deliver(self, data: bytes) -> None:
        if data and _wire.isEnabledFor(logging.DEBUG):
            _trace("RX", self.description, bytes(data))
        if self._on_data is not None and data:
            self._on_data(bytes(data))

    def _lost(self, exc: BaseException | None) -> None:
        """Report a lost link once per connection."""
        if not self._connected:
            return
        self._connected = False
        _log.debug("%s lost: %r", self.description, exc)
        if self._on_lost is not None:
            self._on_lost(exc)

    def _start_reader(self, read: Callable[[], Awaitable[bytes]]) -> None:
        """Pump ``read()`` into :meth:`_deliver` until it fails or returns ``b""``."""

        async def pump() -> None:
            try:
                while True:
                    data = await read()
                    if not data:
                        self._lost(None)
                        return
                    self._deliver(data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._lost(exc)

        self._reader = asyncio.get_running_loop().create_task(
            pump(), name=f"massager-read-{self.description}"
        )


def _trace(direction: str, link: str, data: bytes) -> None:
    _wire.debug(
        "%s %s %s",
        direction,
        link,
        data.hex(" "),
        extra={"direction": direction, "link": link, "data": bytes(data)},
    )


def split(data: bytes, size: int) -> Iterator[bytes]:
    """``data`` in pieces of at most ``size`` bytes."""
    if len(data) <= size:
        yield data
        return
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


def bad_url(url: str, reason: str, forms: tuple[str, ...]) -> BadURLError:
    """A :class:`BadURLError` that says what was wrong and the accepted forms."""
    return BadURLError(f"bad device URL {url!r}: {reason}; expected {' or '.join(forms)}")


def check_options(
    cls: type[Transport], url: str, options: dict[str, Any], accepted: set[str]
) -> None:
    """Raise ``TypeError`` naming any option a transport does not take."""
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(
            f"{cls.scheme}:// transport got unknown option(s) {', '.join(unknown)} for {url!r}; "
            f"it accepts {', '.join(sorted(accepted)) or 'none'}"
        )


class StreamTransport(Transport):
    """A transport over an asyncio stream pair (TCP, serial): subclasses open the streams."""

    def __init__(self, *, min_gap_s: float | None = None) -> None:
        super().__init__(min_gap_s=min_gap_s)
        self._writer: asyncio.StreamWriter | None = None

    @abc.abstractmethod
    async def _open_streams(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open the link's streams; raise ``ConnectionFailed`` saying why not."""

    async def _open(self) -> None:
        reader, self._writer = await self._open_streams()
        self._start_reader(lambda: reader.read(4096))

    async def _close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _write_chunk(self, chunk: bytes) -> None:
        writer = self._writer
        if writer is None:
            raise ConnectionError(f"{self.description} is not connected")
        writer.write(chunk)
        await writer.drain()
