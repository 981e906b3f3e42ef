"""Links between a host and a simulated device.

Every link, whatever carries it, reaches the firmware through a :class:`Port`:
the device's end of one connection. A transport (the in-process pair below,
a TCP connection, a pseudo-terminal, a simulated BLE connection) hands the
port the bytes it receives and gives it a way to send; the port runs both
directions through the link faults (:class:`~massager_simulator.faults.Shaper`),
so faults are applied in one place for every link.

:class:`LinkEnd` is the host's end of an in-process link: a pair of bounded
byte streams, with an optional MTU.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from typing import Protocol

from massager_simulator.faults import FaultConfig, Shaper

#: Bytes a link end buffers for a reader that is not reading; beyond it the
#: sender's bytes are dropped (a receive buffer overflowing), never queued.
LINK_BUFFER = 64 * 1024


class Carrier(Protocol):
    """What a port needs from whatever carries its bytes (an in-process pipe, a TCP
    connection, a pseudo-terminal, a BLE link)."""

    def send(self, data: bytes) -> None:
        """Send bytes toward the host without blocking (may drop when full)."""

    def close(self) -> None:
        """The device ends the link (it is dropped or the device stops)."""


#: Deprecated name of :class:`Carrier` (the host SDK has a ``Transport`` of its own).
Transport = Carrier


class PortOwner(Protocol):
    """The firmware side a port reports to."""

    @property
    def faults(self) -> FaultConfig: ...

    def _port_bytes(self, port: Port, data: bytes) -> None: ...

    def _port_closed(self, port: Port) -> None: ...


class Port:
    """The device's end of one link."""

    __slots__ = ("_drop_timer", "_owner", "_rx", "_transport", "_tx", "closed", "name")

    def __init__(self, owner: PortOwner, transport: Carrier, name: str, seed: int) -> None:
        self._owner = owner
        self._transport = transport
        self.name = name
        self.closed = False
        rng = random.Random(seed)
        self._rx = Shaper(lambda: owner.faults, rng, self._to_firmware)
        self._tx = Shaper(lambda: owner.faults, rng, transport.send, replies=True)
        self._drop_timer: asyncio.TimerHandle | None = None
        self.arm_drop()

    def arm_drop(self) -> None:
        """(Re)start the drop-after timer from the current fault configuration."""
        if self._drop_timer is not None:
            self._drop_timer.cancel()
            self._drop_timer = None
        after = self._owner.faults.drop_after_s
        if after is not None and not self.closed:
            self._drop_timer = asyncio.get_running_loop().call_later(after, self.drop)

    def receive(self, data: bytes) -> None:
        """Bytes from the host (called by the transport)."""
        if not self.closed:
            self._rx.push(data)

    def _to_firmware(self, data: bytes) -> None:
        if not self.closed:
            self._owner._port_bytes(self, data)

    def send(self, data: bytes) -> None:
        """Bytes from the firmware toward the host."""
        if not self.closed:
            self._tx.push(data)

    def lost(self) -> None:
        """The host went away (called by the transport)."""
        if self._shut():
            self._owner._port_closed(self)

    def drop(self) -> None:
        """The link fails: both ends see it gone."""
        if self._shut():
            self._transport.close()
            self._owner._port_closed(self)

    def close(self) -> None:
        """The device closes the link (the device is stopping)."""
        if self._shut():
            self._transport.close()

    def abandon(self) -> None:
        """Forget the link without touching its transport (its event loop is gone)."""
        self._shut()

    def _shut(self) -> bool:
        if self.closed:
            return False
        self.closed = True
        self._rx.close()
        self._tx.close()
        if self._drop_timer is not None:
            self._drop_timer.cancel()
        return True


class LinkEnd:
    """The host's end of an in-process link to a simulated device.

    ``write`` hands bytes to the device; ``read`` returns the next chunk the
    device sent (at most ``mtu`` bytes when an MTU is set). Both raise
    ``ConnectionResetError`` once the link is closed or dropped.
    """

    __slots__ = ("_buffered", "_chunks", "_closed", "_port", "_reason", "_waiter", "dropped", "mtu")

    def __init__(self, mtu: int | None = None) -> None:
        if mtu is not None and mtu < 1:
            raise ValueError(f"mtu must be a positive number of bytes or None, got {mtu!r}")
        #: Largest chunk one write may carry and one read returns; None = a plain stream.
        self.mtu = mtu
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._reason = "link closed"
        self._port: Port | None = None
        #: Bytes the device sent that were dropped because this end was not read.
        self.dropped = 0

    @property
    def is_closed(self) -> bool:
        """Whether the link is closed (by either side) or dropped."""
        return self._closed

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send bytes to the device."""
        if self._closed:
            raise ConnectionResetError(self._reason)
        data = bytes(data)
        if self.mtu is not None and len(data) > self.mtu:
            raise ValueError(
                f"write of {len(data)} bytes exceeds the link MTU of {self.mtu}; split it"
            )
        if self._port is not None:
            self._port.receive(data)

    async def read(self) -> bytes:
        """The next chunk from the device; waits for one."""
        while not self._chunks:
            if self._closed:
                raise ConnectionResetError(self._reason)
            if self._waiter is not None:
                raise RuntimeError("another task is already reading this link")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        return chunk

    def close(self) -> None:
        """Close the link: for the device, the host went away. Idempotent."""
        if self._end("link closed by the host") and self._port is not None:
            self._port.lost()

    # -- the device's side (the transport of its port) ------------------------

    def _deliver(self, data: bytes) -> None:
        if self._closed:
            return
        mtu = self.mtu
        chunks = [data] if mtu is None else [data[i : i + mtu] for i in range(0, len(data), mtu)]
        for chunk in chunks:
            if self._buffered + len(chunk) > LINK_BUFFER:
                self.dropped += len(chunk)
                continue
            self._chunks.append(chunk)
            self._buffered += len(chunk)
        self._wake()

    def _end(self, reason: str) -> bool:
        if self._closed:
            return False
        self._closed = True
        self._reason = reason
        self._chunks.clear()
        self._buffered = 0
        self._wake()
        return True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class InProcessTransport:
    """The transport of an in-process link: delivers to a :class:`LinkEnd`."""

    __slots__ = ("_end",)

    def __init__(self, end: LinkEnd) -> None:
        self._end = end

    def send(self, data: bytes) -> None:
        self._end._deliver(data)

    def close(self) -> None:
        self._end._end("link dropped by the device")


def attach_in_process(end: LinkEnd, make_port: Callable[[Carrier], Port]) -> LinkEnd:
    """Wire a host :class:`LinkEnd` to a new port."""
    end._port = make_port(InProcessTransport(end))
    return end
