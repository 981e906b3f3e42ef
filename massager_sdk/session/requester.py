"""Request/response over one link: sequence numbers, timeouts, bounded retries.

Also the session's counters (:class:`SessionStats`), which every part of the
session adds to.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from massager_sdk.errors import ConnectionFailed, DeviceRefused, DeviceTimeout
from massager_sdk.protocols import Command, ProtocolAdapter, Reply
from massager_sdk.transports import Transport

#: Sequence numbers a host uses; 0 marks frames the device sends on its own.
SEQ_MIN, SEQ_MAX = 1, 255
#: Pause before repeating a command the device refused as busy or corrupted.
_BUSY_PAUSE_S = 0.01
#: How many of the latest round trips are kept (the slow-link check reads them).
ROUND_TRIPS_KEPT = 5


#: The refusal of a signed frame whose session the device no longer holds (or never had).
NOT_AUTHENTICATED = "NOT_AUTHENTICATED"


@runtime_checkable
class SessionRenewing(Protocol):
    """An adapter that signs frames and can ask the device for its session again."""

    def session_request(self, seq: int) -> bytes | None:
        """The frame asking for the session, numbered ``seq``; ``None`` if nothing is signed."""


@dataclasses.dataclass(slots=True)
class _Late:
    """A request given up on after its frames went out: its answer may still come."""

    seqs: tuple[int, ...]  #: the sequence number of each try
    on_late: Callable[[Reply], None]


@dataclasses.dataclass(slots=True)
class SessionStats:
    """Counters of one device session (for status displays and tests)."""

    frames_sent: int = 0  #: frames written, retries included
    output_commands: int = 0  #: output and heat commands sent (after coalescing)
    pattern_uploads: int = 0  #: patterns uploaded to the device
    coalesced: int = 0  #: output requests replaced before they were sent
    retries: int = 0  #: commands sent again after a timeout or a transient refusal
    session_renewals: int = 0  #: signing sessions asked for again after NOT_AUTHENTICATED
    timeouts: int = 0  #: requests that got no reply after every retry
    refusals: int = 0  #: commands the device refused
    safety_refusals: int = 0  #: calls the safety policy refused (nothing sent)
    safety_stops: int = 0  #: stops and heat-offs the safety policy required
    reconnects: int = 0  #: links regained after a loss
    resyncs: int = 0  #: statuses read because the device may have stopped unseen
    telemetry_dropped: int = 0  #: statuses and events a slow iterator lost (oldest first)


class Requester:
    """Request/response over a transport: sequence numbers, timeouts, retries.

    Every frame goes out under one lock, so the chunks of two frames never
    interleave on a link that splits writes. ``still_wanted`` lets a caller
    withdraw a command that became stale while it waited for the lock or for a
    retry (a stop overtook it): it is then not written at all.

    Each try goes out under its own sequence number, so an answer says which try
    it answers (and how long the round trip took). An answer that arrives after
    its request was given up on (withdrawn or timed out) is handed to the
    request's ``on_late``: on a slow link the device ran the command all the same.
    """

    def __init__(
        self,
        transport: Transport,
        adapter: ProtocolAdapter,
        stats: SessionStats,
        *,
        timeout: float,
        retries: int,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if not (isinstance(retries, int) and 0 <= retries <= 10):
            raise ValueError(f"retries must be an integer 0..10, got {retries!r}")
        self.transport = transport
        self.adapter = adapter
        self.stats = stats
        self.timeout = timeout
        self.retries = retries
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._sent_at: dict[int, float] = {}  # when each try still awaited went out
        self._late: dict[int, _Late] = {}
        self._seq = 0
        self._lock = asyncio.Lock()
        #: The event loop's time of the last frame written (keepalive bookkeeping).
        self.last_write = 0.0
        #: When the device last surely heard this host: the write of the try the latest
        #: answer answers (a device's watchdog runs from no earlier than this).
        self.last_confirmed = 0.0
        #: The latest round trips (seconds from a try's write to its answer), oldest first.
        self.round_trips: collections.deque[float] = collections.deque(maxlen=ROUND_TRIPS_KEPT)

    @property
    def in_flight(self) -> int:
        """Requests waiting for their reply."""
        return len(self._pending)

    def _next_seq(self) -> int:
        for _ in range(SEQ_MAX):
            self._seq = self._seq % SEQ_MAX + 1
            if self._seq not in self._pending:
                # A request given up on a full wrap ago is not answered any more.
                late = self._late.pop(self._seq, None)
                if late is not None:
                    for seq in late.seqs:
                        self._late.pop(seq, None)
                        self._sent_at.pop(seq, None)
                return self._seq
        raise RuntimeError(f"{SEQ_MAX} requests are already waiting for replies")

    def resolve(self, reply: Reply) -> bool:
        """Hand a reply to the request waiting for it (or given up on); ``False`` if none is."""
        future = self._pending.get(reply.seq)
        if future is not None and not future.done():
            self._answered(reply.seq)
            future.set_result(reply)
            return True
        late = self._late.pop(reply.seq, None)
        if late is None:
            return False
        for seq in late.seqs:  # one answer per request
            self._late.pop(seq, None)
        self._answered(reply.seq)
        late.on_late(reply)
        return True

    def _answered(self, seq: int) -> None:
        sent = self._sent_at.pop(seq, None)
        if sent is None:
            return
        self.last_confirmed = max(self.last_confirmed, sent)
        self.round_trips.append(asyncio.get_running_loop().time() - sent)

    def fail_all(self, exc: BaseException) -> None:
        """Fail every waiting request (the link was lost)."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved here: a waiter may already be gone

    async def write(self, data: bytes) -> None:
        """Write raw bytes under the frame lock."""
        async with self._lock:
            await self.transport.write(data)
            self.stats.frames_sent += 1
            self.last_write = asyncio.get_running_loop().time()

    async def _renew(self) -> bool:
        """Ask for the signing session again; whether the device answered."""
        adapter = self.adapter
        if not isinstance(adapter, SessionRenewing):
            return False
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        async with self._lock:
            seq = self._next_seq()
            data = adapter.session_request(seq)
            if data is None:
                return False
            self._pending[seq] = future
            try:
                await self.transport.write(data)
            except (ConnectionError, OSError) as exc:
                del self._pending[seq]
                raise ConnectionFailed(f"lost {self.transport.description}: {exc}") from exc
            self.stats.frames_sent += 1
            self.last_write = loop.time()
        try:
            async with asyncio.timeout(self.timeout):
                reply = await future
        except TimeoutError:
            return False
        finally:
            self._pending.pop(seq, None)
        self.stats.session_renewals += 1
        return reply.ok

    async def request(
        self,
        command: Command,
        *,
        still_wanted: Callable[[], bool] | None = None,
        on_late: Callable[[Reply], None] | None = None,
    ) -> Reply | None:
        """Send ``command`` and return the device's acceptance.

        Returns ``None`` when ``still_wanted`` withdrew the command (nothing more
        was sent). Raises :class:`DeviceRefused` for a refusal,
        :class:`DeviceTimeout` when every try went unanswered and
        :class:`ConnectionFailed` when the link drops meanwhile. When the request
        is withdrawn or times out after a try went out, an answer that still
        comes is handed to ``on_late``.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        seqs: list[int] = []
        wait = self.timeout
        name = type(command).__name__
        answered = False
        renewed = False
        attempt = -1
        try:
            while attempt < self.retries:
                attempt += 1
                async with self._lock:
                    if still_wanted is not None and not still_wanted():
                        return None
                    if attempt:
                        self.stats.retries += 1
                    seq = self._next_seq()
                    data = self.adapter.encode(command, seq)
                    try:
                        await self.transport.write(data)
                    except (ConnectionError, OSError) as exc:
                        raise ConnectionFailed(
                            f"lost {self.transport.description} while sending {name}: {exc}"
                        ) from exc
                    self.stats.frames_sent += 1
                    self.last_write = loop.time()
                    # Every try answers the same request: a late answer to any of them counts.
                    seqs.append(seq)
                    self._pending[seq] = future
                    self._sent_at[seq] = self.last_write
                try:
                    async with asyncio.timeout(wait):
                        reply = await asyncio.shield(future)
                except TimeoutError:
                    continue
                if reply.ok:
                    answered = True
                    return reply
                if reply.retryable and attempt < self.retries:
                    future = loop.create_future()
                    for seq in seqs:
                        self._pending[seq] = future
                    await asyncio.sleep(_BUSY_PAUSE_S * (attempt + 1))
                    continue
                if reply.reason == NOT_AUTHENTICATED and not renewed and await self._renew():
                    # The device lost the session (it restarted): once more, signed anew.
                    renewed = True
                    attempt -= 1
                    future = loop.create_future()
                    for seq in seqs:
                        self._pending[seq] = future
                    continue
                answered = True
                self.stats.refusals += 1
                raise DeviceRefused(reply.command, reply.reason)
            self.stats.timeouts += 1
            raise DeviceTimeout(
                f"no reply to {name} from {self.transport.description} after "
                f"{self.retries + 1} tries of {wait:g} s"
            )
        finally:
            for seq in seqs:
                if self._pending.get(seq) is future:
                    del self._pending[seq]
            unanswered = not answered and not future.done()
            if not future.done():
                future.cancel()
            if unanswered and on_late is not None and seqs:
                late = _Late(tuple(seqs), on_late)
                for seq in seqs:
                    self._late[seq] = late
            else:
                for seq in seqs:
                    self._sent_at.pop(seq, None)
