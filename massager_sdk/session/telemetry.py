"""Telemetry: statuses and events fanned out to callbacks and bounded async iterators."""

from __future__ import annotations

import asyncio
import collections
import logging
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from massager_sdk.model import DeviceEvent, DeviceStatus
from massager_sdk.session.requester import SessionStats

_log = logging.getLogger("massager_sdk")

T = TypeVar("T")
Telemetry = DeviceStatus | DeviceEvent


class Feed(Generic[T]):
    """A bounded queue: when full, the oldest item is dropped, never the newest."""

    def __init__(self, maxlen: int, on_drop: Callable[[], None]) -> None:
        if maxlen < 1:
            raise ValueError(f"buffer must hold at least 1 item, got {maxlen!r}")
        self._items: collections.deque[T] = collections.deque(maxlen=maxlen)
        self._ready = asyncio.Event()
        self._closed = False
        self._on_drop = on_drop
        self.dropped = 0

    def put(self, item: T) -> None:
        if self._closed:
            return
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
            self._on_drop()
        self._items.append(item)
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    async def get(self) -> T:
        """The oldest item; ``StopAsyncIteration`` once closed and drained."""
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()


class TelemetryStream:
    """``async for item in device.telemetry()``: statuses and events as they arrive.

    Bounded: a consumer that falls behind loses the oldest items (counted in
    :attr:`dropped`). The iteration ends when the device is closed; leave early
    with ``break`` (or :meth:`aclose`).
    """

    def __init__(self, hub: TelemetryHub, maxlen: int) -> None:
        self._feed: Feed[Telemetry] = Feed(maxlen, hub._count_drop)
        self._hub = hub
        hub._feeds.add(self._feed)

    @property
    def dropped(self) -> int:
        """Items this stream lost because it was full."""
        return self._feed.dropped

    def __aiter__(self) -> TelemetryStream:
        return self

    async def __anext__(self) -> Telemetry:
        return await self._feed.get()

    async def aclose(self) -> None:
        """Stop receiving."""
        self._feed.close()
        self._hub._feeds.discard(self._feed)

    async def __aenter__(self) -> TelemetryStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class TelemetryHub:
    """Statuses and events to callbacks and to :class:`TelemetryStream` iterators."""

    def __init__(self, stats: SessionStats) -> None:
        self._stats = stats
        # Weak: a stream dropped without aclose() unsubscribes when collected.
        self._feeds: weakref.WeakSet[Feed[Telemetry]] = weakref.WeakSet()
        self._status_callbacks: list[Callable[[DeviceStatus], object]] = []
        self._event_callbacks: list[Callable[[DeviceEvent], object]] = []
        self._closed = False

    def _count_drop(self) -> None:
        self._stats.telemetry_dropped += 1

    def stream(self, maxlen: int) -> TelemetryStream:
        """A new bounded iterator (ends at once if the hub is closed)."""
        stream = TelemetryStream(self, maxlen)
        if self._closed:
            stream._feed.close()
        return stream

    def on_status(self, callback: Callable[[DeviceStatus], object]) -> Callable[[], None]:
        """Call ``callback(status)`` for each status; returns the unsubscribe function."""
        return _subscribe(self._status_callbacks, callback)

    def on_event(self, callback: Callable[[DeviceEvent], object]) -> Callable[[], None]:
        """Call ``callback(event)`` for each event; returns the unsubscribe function."""
        return _subscribe(self._event_callbacks, callback)

    def publish(self, item: Telemetry) -> None:
        """Deliver to every subscriber. A failing callback is logged, never raised."""
        if isinstance(item, DeviceStatus):
            _call_each(self._status_callbacks, item)
        else:
            _call_each(self._event_callbacks, item)
        for feed in list(self._feeds):
            feed.put(item)

    def close(self) -> None:
        """End every stream (after what they hold is read)."""
        self._closed = True
        for feed in list(self._feeds):
            feed.close()


def _call_each(callbacks: list[Callable[[T], object]], item: T) -> None:
    for callback in list(callbacks):
        try:
            callback(item)
        except Exception:
            _log.exception("telemetry callback %r failed", callback)


def _subscribe(callbacks: list[T], callback: T) -> Callable[[], None]:
    callbacks.append(callback)

    def unsubscribe() -> None:
        if callback in callbacks:
            callbacks.remove(callback)

    return unsubscribe
