"""Time for the simulator and for everything that shares its event loop.

The clock is the running event loop's: firmware, sessions and program runners
all read ``loop.time()`` and wait with ``asyncio.sleep``. Choosing the loop
chooses the clock:

- the default loop runs in real time;
- :class:`ScaledTimeEventLoop` runs ``speed`` times faster than real time
  (``massager simulate --speed 10``, ``massager run --speed 60``), real I/O
  included; its clock moves only while the loop waits, never past a timer;
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


#: The most real time a scaled clock owes and catches up on at once (see ScaledTimeEventLoop).
MAX_BEHIND_S = 0.1
#: The most clock time owed at once by a process whose timing meets another process's over
#: a real link (a served device, and its host): a third of a device watchdog (3 s). Racing
#: through more would fire a reply timeout before a reply could cross the link, or take a
#: stalled device past its watchdog on the frames it had already received.
REMOTE_MAX_BEHIND_S = 1.0


class _ScaledSelector(_SelectorWrapper):
    def __init__(
        self,
        inner: selectors.BaseSelector,
        speed: float,
        real_time: Callable[[], float],
        max_behind: float,
    ) -> None:
        super().__init__(inner)
        self.speed = speed
        self.real_time = real_time
        self.max_behind = max_behind
        self.now = real_time()
        self._real = self.now  # the real time already turned into clock time
        self.behind = 0.0  # clock time owed: real time passed that the clock has not yet shown

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        owed = self._owed()
        if timeout is None:
            # No timer at all: only I/O (a thread, a signal) can wake us.
            events = self._inner.select(None)
            self.now += self._owed()
            self.behind = 0.0
            return events
        if timeout == 0:
            # Callbacks are ready: the clock stands still until the loop waits, so a
            # chain of callbacks (a frame sent, received, answered) takes no clock time.
            return self._inner.select(0)
        if owed < timeout:
            # Sleep off only what is not owed already. The real wait overshoots
            # (epoll counts whole milliseconds, the scheduler adds more): the excess
            # stays owed and the next timers fire without waiting for it.
            events = self._inner.select((timeout - owed) / self.speed)
            owed = self._owed()
        else:
            events = self._inner.select(0)
            if events:
                # What arrived while the loop was busy is handled before the clock
                # moves: a reply or keepalive already here is not late for a timer.
                return events
        # Never past the next timer: it fires before any later one, whatever was owed.
        step = min(owed, timeout)
        self.now += step
        self.behind = owed - step
        return events

    def _owed(self) -> float:
        real = self.real_time()
        self.behind += (real - self._real) * self.speed
        self._real = real
        # A long stall (a suspended process, a loaded machine) is not raced through.
        self.behind = min(self.behind, self.max_behind)
        return self.behind


class ScaledTimeEventLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock runs ``speed`` times faster than real time.

    The clock keeps pace with real time times ``speed`` (waits that overshoot
    and time spent in callbacks included), but it moves only while the loop
    waits and never beyond the next timer: time owed is paid by letting the
    following timers fire without waiting, one at a time and in order, with
    every callback they make ready run before the clock moves again. So a host
    and an embedded device sharing the loop stay in step at any speed (a
    keepalive sent is received before the watchdog's next check), and two
    processes at the same speed agree on how much time has passed. I/O that
    arrived while the loop was busy is handled before the clock catches up, and
    no more than ``max_behind_s`` of clock time (default ``MAX_BEHIND_S`` of real
    time times ``speed``) is owed at once: a longer stall is not raced through.

    ``real_time`` is the real clock (``time.monotonic``; tests inject their own).
    """

    def __init__(
        self,
        speed: float,
        *,
        real_time: Callable[[], float] = time.monotonic,
        max_behind_s: float | None = None,
    ) -> None:
        self.speed = speed
        max_behind = MAX_BEHIND_S * speed if max_behind_s is None else max_behind_s
        self._scaled = _ScaledSelector(selectors.DefaultSelector(), speed, real_time, max_behind)
        super().__init__(selector=self._scaled)
        if not (speed > 0 and speed != float("inf")):
            self.close()
            raise ValueError(f"speed must be a finite number above 0, got {speed!r}")

    def time(self) -> float:
        return self._scaled.now

    def limit_behind(self, max_behind_s: float) -> None:
        """Owe at most ``max_behind_s`` of clock time from now on (if that is less)."""
        scaled = self._scaled
        scaled.max_behind = min(scaled.max_behind, max_behind_s)
        scaled.behind = min(scaled.behind, scaled.max_behind)

    @property
    def behind(self) -> float:
        """Clock time owed: real time (times ``speed``) the clock has yet to show."""
        return self._scaled.behind


def clock_speed(loop: asyncio.AbstractEventLoop | None = None) -> float:
    """How many times faster than real time ``loop`` (default: the running loop) runs:
    ``speed`` for a scaled loop, ``inf`` for a virtual one, 1 for any other."""
    loop = loop or asyncio.get_running_loop()
    if isinstance(loop, ScaledTimeEventLoop):
        return loop.speed
    return float("inf") if isinstance(loop, VirtualTimeEventLoop) else 1.0


def speed_query(speed: float) -> str:
    """``?speed=X`` for a served device's URL (empty at 1), ``X`` exact: a host that reads
    it runs its clock at the device's speed (``massager_sdk.transports.speed``)."""
    if speed == 1:
        return ""
    text = f"{speed:g}"
    return f"?speed={text if float(text) == speed else repr(speed)}"


def loop_factory(
    speed: float | None, *, max_behind_s: float | None = None
) -> Callable[[], asyncio.AbstractEventLoop]:
    """The loop for a speed: ``None`` or 1 real time, ``inf`` virtual, else scaled
    (``max_behind_s`` as :class:`ScaledTimeEventLoop` takes it)."""
    if speed is None or speed == 1:
        return asyncio.new_event_loop
    if speed == float("inf"):
        return VirtualTimeEventLoop
    return lambda: ScaledTimeEventLoop(speed, max_behind_s=max_behind_s)


def run(
    main: Coroutine[Any, Any, T], *, speed: float | None = None, max_behind_s: float | None = None
) -> T:
    """``asyncio.run`` on the clock chosen by ``speed`` (see :func:`loop_factory`)."""
    with asyncio.Runner(loop_factory=loop_factory(speed, max_behind_s=max_behind_s)) as runner:
        return runner.run(main)


def run_virtual(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main()`` on a fresh :class:`VirtualTimeEventLoop` (handy in tests)."""

    async def _call() -> T:
        return await main()

    return run(_call(), speed=float("inf"))
