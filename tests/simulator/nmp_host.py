"""A minimal NMP/1 host for driving the simulated firmware with raw frames.

It is written from the protocol package alone, so the firmware's tests never
lean on the SDK's host code.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from massager_protocols.nmp import Event, Message, Status, StreamDecoder, encode, encode_frame
from massager_simulator.clock import run_virtual

T = TypeVar("T")

#: Guard against a hang; never reached by a passing test.
REPLY_TIMEOUT_S = 10.0


class ByteLink(Protocol):
    """What the host needs from a link."""

    async def write(self, data: bytes) -> None: ...

    async def read(self) -> bytes: ...

    def close(self) -> None: ...


class StreamLink:
    """A :class:`ByteLink` over asyncio streams (TCP, serial)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def read(self) -> bytes:
        data = await self._reader.read(4096)
        if not data:
            raise ConnectionResetError("stream closed")
        return data

    def close(self) -> None:
        self._writer.close()


class NmpHost:
    """Sends frames with fresh sequence numbers and sorts what comes back.

    Replies are matched by seq; unprompted frames (seq 0) are kept in
    ``unprompted`` with the loop time they arrived at.
    """

    def __init__(self, link: ByteLink) -> None:
        self.link = link
        self.decoder = StreamDecoder()
        self.unprompted: list[tuple[float, Message]] = []
        self.chunks: list[bytes] = []
        self._seq = 0
        self._waiting: dict[int, asyncio.Future[Message]] = {}
        self.closed = asyncio.get_running_loop().create_future()
        self._pump = asyncio.get_running_loop().create_task(self._read())

    def next_seq(self) -> int:
        """The next host sequence number, 1..255, wrapping."""
        self._seq = self._seq % 255 + 1
        return self._seq

    async def request(self, message: Message) -> Message:
        """Send ``message`` and wait for the reply that echoes its seq."""
        seq = self.next_seq()
        return await self.send_frame(encode(message, seq), seq)

    async def send_frame(self, frame: bytes, seq: int, chunk: int | None = None) -> Message:
        """Send raw bytes and wait for the reply with ``seq``."""
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[seq] = fut
        step = chunk or len(frame)
        for i in range(0, len(frame), step):
            await self.link.write(frame[i : i + step])
        return await asyncio.wait_for(fut, REPLY_TIMEOUT_S)

    async def send_raw(self, msg_type: int, payload: bytes) -> Message:
        """Send a frame of any type and payload; wait for its reply."""
        seq = self.next_seq()
        return await self.send_frame(encode_frame(seq, msg_type, payload), seq)

    def events(self) -> list[Event]:
        """Unprompted EVENTs so far."""
        return [m for _, m in self.unprompted if isinstance(m, Event)]

    def statuses(self) -> list[tuple[float, Status]]:
        """Unprompted STATUS frames so far, with their arrival times."""
        return [(t, m) for t, m in self.unprompted if isinstance(m, Status)]

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                chunk = await self.link.read()
                self.chunks.append(chunk)
                for frame in self.decoder.feed(chunk):
                    message = frame.message()
                    if frame.seq == 0:
                        self.unprompted.append((loop.time(), message))
                        continue
                    fut = self._waiting.pop(frame.seq, None)
                    if fut is not None and not fut.done():
                        fut.set_result(message)
        except ConnectionResetError as exc:
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_exception(ConnectionResetError(str(exc)))
            self.closed.set_result(loop.time())

    async def close(self) -> None:
        """Close the link and stop reading."""
        self.link.close()
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump


def virtual(scenario: Callable[[], Awaitable[T]]) -> T:
    """Run a scenario on the virtual clock."""
    return run_virtual(scenario)


def fields_subset(message: Message, expected: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``message`` named in ``expected`` (to compare in one assert)."""
    actual = message.fields()
    return {k: actual.get(k) for k in expected}
