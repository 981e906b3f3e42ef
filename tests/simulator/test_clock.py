"""The clocks: virtual time jumps when idle; scaled time keeps pace with real time
times the speed, moving only while the loop waits and never past a timer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from massager_simulator.clock import (
    MAX_BEHIND_S,
    REMOTE_MAX_BEHIND_S,
    ScaledTimeEventLoop,
    run,
    run_virtual,
)

T = TypeVar("T")


def test_virtual_clock_jumps_to_the_next_timer() -> None:
    async def main() -> tuple[float, list[int]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        order: list[int] = []
        loop.call_later(600, order.append, 2)
        loop.call_later(60, order.append, 1)
        await asyncio.sleep(1200)
        return loop.time() - start, order

    elapsed, order = run_virtual(main)
    assert elapsed == 1200
    assert order == [1, 2]


class FakeRealClock:
    """A real clock that moves only when told to (and by a microsecond a reading)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1e-6
        return self.now


def _run_scaled(
    main: Coroutine[Any, Any, T],
    speed: float,
    real: FakeRealClock,
    max_behind_s: float | None = None,
) -> T:
    def make() -> ScaledTimeEventLoop:
        return ScaledTimeEventLoop(speed, real_time=real, max_behind_s=max_behind_s)

    with asyncio.Runner(loop_factory=make) as runner:
        return runner.run(main)


def test_scaled_clock_is_frozen_while_callbacks_run() -> None:
    real = FakeRealClock()

    async def main() -> float:
        loop = asyncio.get_running_loop()
        before = loop.time()
        real.now += 0.05  # a busy or descheduled moment
        return loop.time() - before

    assert _run_scaled(main(), 1000, real) == 0.0


def test_time_spent_busy_is_owed_and_paid_without_waiting_one_timer_at_a_time() -> None:
    real = FakeRealClock()

    async def main() -> tuple[list[tuple[str, float]], float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        fired: list[tuple[str, float]] = []
        real.now += 0.05  # 0.5 s of clock time at 10x, owed
        begun = real.now
        loop.call_later(0.2, lambda: fired.append(("watchdog", loop.time() - start)))
        loop.call_later(0.1, lambda: fired.append(("keepalive", loop.time() - start)))
        await asyncio.sleep(0.3)
        fired.append(("woke", loop.time() - start))
        return fired, real.now - begun

    fired, real_spent = _run_scaled(main(), 10, real)
    # Each timer fires at its own time, not at the time owed (0.5 s).
    assert [name for name, _ in fired] == ["keepalive", "watchdog", "woke"]
    assert [at for _, at in fired] == pytest.approx([0.1, 0.2, 0.3])
    # Paid from what was owed: the fake real clock moved only by its readings.
    assert real_spent < 0.001


def test_callbacks_made_ready_run_before_the_clock_passes_the_next_timer() -> None:
    """A keepalive sent over an in-process link is received before the watchdog checks."""
    real = FakeRealClock()

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        seen: list[str] = []

        def deliver(hops: int) -> None:  # a frame passing through several callbacks
            if hops:
                loop.call_soon(deliver, hops - 1)
            else:
                seen.append("received")

        def send() -> None:
            seen.append("sent")
            loop.call_soon(deliver, 5)

        real.now += 0.05  # far behind: both timers are due at once
        loop.call_later(0.5, send)
        loop.call_later(0.501, lambda: seen.append("watchdog check"))
        await asyncio.sleep(0.9)
        return seen

    assert _run_scaled(main(), 1000, real) == ["sent", "received", "watchdog check"]


def test_io_that_arrived_while_busy_is_handled_before_the_clock_catches_up() -> None:
    """A frame already received is not late for a timer that fell due meanwhile."""
    real = FakeRealClock()
    ours, theirs = socket.socketpair()

    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        seen: list[tuple[str, float]] = []

        def read() -> None:
            theirs.recv(16)
            seen.append(("frame", loop.time() - start))

        loop.add_reader(theirs.fileno(), read)
        loop.call_later(0.5, lambda: seen.append(("watchdog check", loop.time() - start)))
        ours.send(b"keepalive")  # arrives while the loop is busy...
        real.now += 0.05  # ...for 5 s of clock time at 100x
        await asyncio.sleep(0.8)
        loop.remove_reader(theirs.fileno())
        return seen

    try:
        seen = _run_scaled(main(), 100, real)
    finally:
        ours.close()
        theirs.close()
    assert seen == [("frame", 0.0), ("watchdog check", pytest.approx(0.5))]


def test_a_long_stall_is_caught_up_only_to_a_bound() -> None:
    real = FakeRealClock()

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ScaledTimeEventLoop)
        start = loop.time()
        real.now += 10.0  # a suspended process: 1000 s of clock time at 100x
        await asyncio.sleep(0.25)
        return loop.time() - start, loop.behind

    moved, behind = _run_scaled(main(), 100, real)
    assert moved == pytest.approx(0.25)
    # Of the 1000 s stalled, only the bound (0.1 s of real time) was owed; 0.25 s is paid.
    assert behind == pytest.approx(MAX_BEHIND_S * 100 - 0.25, abs=0.01)


def test_a_served_device_owes_at_most_its_own_bound() -> None:
    real = FakeRealClock()

    async def main() -> float:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ScaledTimeEventLoop)
        real.now += 10.0
        await asyncio.sleep(0.25)
        return loop.behind

    behind = _run_scaled(main(), 1000, real, max_behind_s=REMOTE_MAX_BEHIND_S)
    assert behind == pytest.approx(REMOTE_MAX_BEHIND_S - 0.25, abs=0.01)


def test_scaled_clock_advances_while_waiting_and_timers_fire_in_order() -> None:
    async def main() -> tuple[float, list[str]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        fired: list[str] = []
        loop.call_later(2, fired.append, "watchdog")
        loop.call_later(1, fired.append, "keepalive")
        await asyncio.sleep(3)
        return loop.time() - start, fired

    elapsed, fired = run(main(), speed=200)
    assert elapsed >= 3
    assert fired == ["keepalive", "watchdog"]


@pytest.mark.parametrize("speed", [0, -1, float("inf"), float("nan")])
def test_a_scaled_loop_refuses_a_speed_that_is_not_a_finite_positive_number(speed: float) -> None:
    with pytest.raises(ValueError, match="finite number above 0"):
        ScaledTimeEventLoop(speed)
