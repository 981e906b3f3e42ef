"""Keeping Python's cycle collector from holding every device up at once.

A bridge with a thousand devices holds a great many objects, and the cycle
collector's full collections walk all of them: 100-230 ms each in which no
device is served and no command carried out, several a minute, because the
status, keepalive and publishing of every device keep promoting short-lived
objects. Most of the heap lives as long as the bridge (its modules) or as long
as a device is served (its session, its node), so the bridge moves it out of the
collector's reach (:func:`gc.freeze`): what it holds on starting, at once, and
what its devices brought once they have settled (no device came for a moment).
Later collections walk only what came after.

The youngest generation is also collected less often: every 10,000 new objects
rather than Python's 700. Nearly everything a device's status, keepalive and state
make is gone by then either way (freed by its reference count), and far fewer
objects live through a collection to be promoted and walked again and again by the
older generations' collections: with a thousand devices, a 20 ms collection of the
middle generation ran every second before.

Freezing on starting walks the heap once (nothing is served yet). Freezing what
devices brought walks nothing: the pause would fall on devices already being served
(a hundred devices starting programs as the last ones connect: 25-30 ms, every
program late at once). Any garbage frozen with it waits for the next thaw: after a
device went away its session's garbage may be among the frozen objects, so the next
settling thaws everything first and walks it all once; that happens at most once a
minute.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import time

_log = logging.getLogger("massager_sdk.mqtt")

#: Settled: no device came or went for this long.
SETTLE_S = 2.0
#: Never later than this after the first change, though devices keep coming.
LATEST_S = 30.0
#: After a device went away, at most this often: that settling walks the whole heap.
EVERY_S = 60.0
#: New objects (less those freed) between collections of the youngest generation.
YOUNG_THRESHOLD = 10_000


class HeapKeeper:
    """Freezes the heap on starting and once the devices have settled (see the module)."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.settled = 0  #: how many times the heap was frozen
        self._handle: asyncio.TimerHandle | None = None
        self._first_change = math.inf
        self._last_settle = -math.inf
        self._thaw = False  #: a device went away: walk everything at the next settling
        self._thresholds: tuple[int, int, int] | None = None  #: the collector's, before

    def start(self) -> None:
        """Freeze what is there now (the bridge starts: its modules, not yet a device),
        and collect the youngest generation less often."""
        if not self.enabled:
            return
        young, middle, old = self._thresholds = gc.get_threshold()
        gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
        self._settle()

    def changed(self, *, gone: bool = False) -> None:
        """A device came (or, with ``gone``, went): settle once things are quiet again."""
        if not self.enabled:
            return
        self._thaw = self._thaw or gone
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._first_change = min(self._first_change, now)
        at = min(now + SETTLE_S, self._first_change + LATEST_S)
        if self._thaw:
            at = max(at, self._last_settle + EVERY_S)
        if self._handle is not None:
            self._handle.cancel()
        self._handle = loop.call_at(at, self._settle)

    def close(self) -> None:
        """No more settling; the collector's thresholds as they were (the heap is left
        frozen: frozen objects stay valid)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    def _settle(self) -> None:
        self._handle = None
        self._first_change = math.inf
        start = time.perf_counter()
        walk = self._thaw or not self.settled  # after a device went away, or on starting
        found = 0
        if walk:
            if self._thaw:
                self._thaw = False
                self._last_settle = asyncio.get_running_loop().time()
            gc.unfreeze()
            found = gc.collect()
        gc.freeze()
        self.settled += 1
        _log.debug(
            "heap settled%s: %d objects frozen, %d collected, in %.0f ms",
            " (after walking the heap)" if walk else "",
            gc.get_freeze_count(),
            found,
            (time.perf_counter() - start) * 1000,
        )
