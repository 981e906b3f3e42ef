"""Time for the simulator and for everything that shares its event loop.

The clock is the running event loop's: firmware, sessions and program runners
all read ``loop.time()`` and wait with ``asyncio.sleep``. Choosing the loop
chooses the clock:

- the default loop runs in real time;
- :class:`ScaledTimeEventLoop` runs up to ``speed`` times faster than real
  time (``massager simulate --speed 10``, ``massager run --speed 60``), real
  I/O included; its clock moves only while the loop waits;
- :class:`VirtualTimeEventLoop` jumps straight to the next timer whenever no
  callback is ready, so a 20-minute session of in-process work completes in a
  fraction of a second, deterministically.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class _SelectorWrapper(selectors.BaseSelector):
    """Delegates to a real selector; subclasses change what waiting means."""

    def __init__(self, inner: selectors.BaseSelector) -> None:
        self._inner = inner

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        return self._inner.select(timeout)

    def close(self) -> None:
        self._inner.close()

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()


class _VirtualSelector(_SelectorWrapper):
    def __init__(self, inner: selectors.BaseSelector) -> None:
        super().__init__(inner)
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = self._inner.select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            # No timer at all: only real I/O (a thread, a signal) can wake us.
            return self._inner.select(None)
        # Idle until the next timer: let that much virtual time pass at once.
        self.now += timeout
        return events


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock advances only when every task is waiting.

    Suitable for in-process work (the embedded simulator, program runners,
    sessions over the in-process link). Real sockets still work, but a timer
    fires as soon as nothing else is ready, so real I/O latency is not waited for.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._virtual = _VirtualSelector(selectors.DefaultSelector())
        self._virtual.now = start
        super().__init__(selector=self._virtual)

    def time(self) -> float:
        return self._virtual.now


class _ScaledSelector(_SelectorWrapper):
    def __init__(self, inner: selectors.BaseSelector, speed: float) -> None:
        super().__init__(inner)
        self.speed = speed
        self.now = time.monotonic()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        start = time.monotonic()
        events = self._inner.select(None if timeout is None else timeout / self.speed)
        waited = (time.monotonic() - start) * self.speed
        # The clock moves only while the loop waits, never past the next timer.
        self.now += waited if timeout is None else min(waited, timeout)
        return events


class ScaledTimeEventLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock runs up to ``speed`` times faster than real time.

    The clock advances only while the loop waits (by the real time waited times
    ``speed``, never beyond the next timer), not while callbacks run. So a
    process that is descheduled or busy for a moment does not see seconds of
    device time vanish at once: a host and an embedded device sharing the loop
    stay in step at any speed, and the device watchdog never fires because the
    machine was loaded.
    """

    def __init__(self, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be a positive number, got {speed!r}")
        self.speed = speed
        self._scaled = _ScaledSelector(selectors.DefaultSelector(), speed)
        super().__init__(selector=self._scaled)

    def time(self) -> float:
        return self._scaled.now


def loop_factory(speed: float | None) -> Callable[[], asyncio.AbstractEventLoop]:
    """The loop for a speed: ``None`` or 1 real time, ``inf`` virtual, else scaled."""
    if speed is None or speed == 1:
        return asyncio.new_event_loop
    if speed == float("inf"):
        return VirtualTimeEventLoop
    return lambda: ScaledTimeEventLoop(speed)


def run(main: Coroutine[Any, Any, T], *, speed: float | None = None) -> T:
    """``asyncio.run`` on the clock chosen by ``speed`` (see :func:`loop_factory`)."""
    with asyncio.Runner(loop_factory=loop_factory(speed)) as runner:
        return runner.run(main)


def run_virtual(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main()`` on a fresh :class:`VirtualTimeEventLoop` (handy in tests)."""

    async def _call() -> T:
        return await main()

    return run(_call(), speed=float("inf"))
