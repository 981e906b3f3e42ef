"""Once its devices have settled, the bridge moves its heap out of the cycle collector's walk.

A full collection walks every object of the process; at a thousand devices that
held every device up for 100-230 ms several times a minute. After freezing, the
objects of the settled devices are no longer walked.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from massager_sdk.mqtt import heap
from massager_sdk.mqtt.heap import HeapKeeper
from tests.mqtt.broker import BrokerProcess
from tests.mqtt.helpers import add, running_bridge


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    """Every test starts and ends with nothing frozen (other tests' objects stay collectable)
    and the collector's own thresholds."""
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


async def test_it_settles_once_the_devices_are_quiet() -> None:
    loop = asyncio.get_running_loop()
    keeper = HeapKeeper()
    keeper.changed()
    start = loop.time()
    assert keeper._handle is not None
    assert keeper._handle.when() == pytest.approx(start + heap.SETTLE_S, abs=0.05)
    # Devices still coming push it on, but not past LATEST_S after the first.
    keeper._first_change = start - heap.LATEST_S + 0.5
    keeper.changed()
    assert keeper._handle.when() == pytest.approx(start + 0.5, abs=0.05)
    keeper._settle()
    assert keeper.settled == 1 and gc.get_freeze_count() > 0
    # More devices coming: settled again soon (it walks only what they brought)...
    keeper.changed()
    assert keeper._handle.when() == pytest.approx(loop.time() + heap.SETTLE_S, abs=0.05)
    keeper._settle()
    # ...but after one went away (a walk of everything) at most once a minute.
    keeper.changed(gone=True)
    keeper._settle()
    keeper.changed(gone=True)
    assert keeper._handle.when() >= keeper._last_settle + heap.EVERY_S
    keeper.close()
    assert keeper._handle is None


async def test_starting_freezes_the_heap_and_settling_what_came_since() -> None:
    before = gc.get_threshold()
    keeper = HeapKeeper()
    keeper.start()
    frozen = gc.get_freeze_count()
    assert keeper.settled == 1 and frozen > 0
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, *before[1:])
    newcomers = [[i] for i in range(10_000)]  # a device's objects, say
    keeper.changed()
    keeper._settle()
    assert keeper.settled == 2
    assert gc.get_freeze_count() >= frozen + len(newcomers)
    keeper.close()
    assert gc.get_threshold() == before


async def test_garbage_of_a_gone_session_is_collected_when_it_settles_again() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    keeper = HeapKeeper()
    kept = Cycle()
    collected: list[bool] = []
    weakref.finalize(kept, collected.append, True)
    keeper._settle()  # the cycle is alive: frozen
    del kept
    keeper.changed()
    keeper._settle()
    assert collected == []  # frozen objects are not walked
    keeper.changed(gone=True)  # a session ended
    keeper._settle()  # thawed first: its garbage goes
    assert collected == [True]


async def test_disabled_it_leaves_the_collector_alone() -> None:
    before = gc.get_threshold()
    keeper = HeapKeeper(enabled=False)
    keeper.start()
    keeper.changed()
    assert keeper._handle is None and gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


async def test_the_bridge_freezes_on_starting_and_after_its_device_session_starts(
    live_broker: BrokerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(heap, "SETTLE_S", 0.2)
    async with running_bridge(live_broker) as setup:
        # Frozen on starting, before any device...
        assert setup.bridge.heap.settled == 1 and gc.get_freeze_count() > 0
        await add(setup, "sim://heat4", "desk")
        # ...and again once the device's session has settled.
        for _ in range(100):
            if setup.bridge.heap.settled == 2:
                break
            await asyncio.sleep(0.05)
        assert setup.bridge.heap.settled == 2
