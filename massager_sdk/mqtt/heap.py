"""Keeping Python's cycle collector from holding every device up at once.

A bridge with a thousand devices holds a few million objects. The cycle
collector's full collections walk all of them: 100-230 ms each in which no
device is served and no command carried out, several a minute, because the
status, keepalive and publishing of every device keep promoting short-lived
objects. Most of the heap (the modules, each device's session, its node) lives
as long as the device is served, so once the devices have settled the bridge
collects once and moves everything left out of the collector's reach
(:func:`gc.freeze`); later collections walk only what came after.

It settles again after devices come or go (unfreezing first, so garbage of a
gone session is collected then, not kept), at most once a minute.
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
#: At most this often: each settling is one full collection of the whole heap.
EVERY_S = 60.0


class HeapKeeper:
    """Freezes the heap once the devices have settled (see the module)."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.settled = 0  #: how many times the heap was frozen
        self._handle: asyncio.TimerHandle | None = None
        self._first_change = math.inf
        self._last_settle = -math.inf

    def changed(self) -> None:
        """A device came or went: settle once things are quiet again."""
        if not self.enabled:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._first_change = min(self._first_change, now)
        at = min(now + SETTLE_S, self._first_change + LATEST_S)
        at = max(at, self._last_settle + EVERY_S)
        if self._handle is not None:
            self._handle.cancel()
        self._handle = loop.call_at(at, self._settle)

    def close(self) -> None:
        """No more settling; the heap is left as it is (frozen objects stay valid)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _settle(self) -> None:
        self._handle = None
        self._first_change = math.inf
        self._last_settle = asyncio.get_running_loop().time()
        start = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        self.settled += 1
        _log.debug(
            "heap settled: %d objects frozen, %d collected, in %.0f ms",
            gc.get_freeze_count(),
            found,
            (time.perf_counter() - start) * 1000,
        )
