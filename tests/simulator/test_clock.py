"""The clocks: virtual time jumps when idle; scaled time moves only while waiting."""

from __future__ import annotations

import asyncio
import time

from massager_simulator.clock import run, run_virtual


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


def test_scaled_clock_is_frozen_while_callbacks_run() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        before = loop.time()
        time.sleep(0.05)  # noqa: ASYNC251 (a busy or descheduled moment: no device time passes)
        return loop.time() - before

    assert run(main(), speed=1000) == 0.0


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
