"""Which uploaded pattern sits in which of the device's pattern slots.

Least recently used first out, but never a slot whose pattern a zone plays or
is about to play. No I/O: the session uploads what :meth:`PatternSlots.loaded`
says is missing.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

from massager_sdk.model import Pattern


class SlotsFull(ValueError):
    """Every slot holds a pattern that is playing or about to play."""


class PatternSlots:
    """The device's ``capacity`` pattern slots, cached by pattern content."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"a device has 0 or more pattern slots, got {capacity!r}")
        self.capacity = capacity
        # Oldest use first.
        self._slot_of: collections.OrderedDict[Pattern, int] = collections.OrderedDict()
        self._loaded: set[int] = set()  # slots uploaded over the current link

    def slot_of(self, pattern: Pattern) -> int | None:
        """The slot assigned to ``pattern``, if any."""
        return self._slot_of.get(pattern)

    def choose(self, pattern: Pattern, busy: Iterable[Pattern]) -> tuple[int, Pattern | None]:
        """The slot for ``pattern`` and the pattern it would evict; nothing is changed.

        ``busy`` are the patterns zones play or are about to play: their slots are
        kept. Raises :class:`SlotsFull` when every slot is busy.
        """
        slot = self._slot_of.get(pattern)
        if slot is not None:
            return slot, None
        kept = {self._slot_of[p] for p in busy if p in self._slot_of}
        used = set(self._slot_of.values())
        for free in range(self.capacity):
            if free not in used:
                return free, None
        for old, taken in self._slot_of.items():  # least recently used first
            if taken not in kept:
                return taken, old
        raise SlotsFull(f"all {self.capacity} pattern slots hold patterns that are playing")

    def assign(self, pattern: Pattern, slot: int, evict: Pattern | None) -> None:
        """Put ``pattern`` in ``slot`` (as :meth:`choose` said), marking it most recently used."""
        if evict is not None:
            del self._slot_of[evict]
            self._loaded.discard(slot)
        self._slot_of[pattern] = slot
        self._slot_of.move_to_end(pattern)

    def loaded(self, slot: int) -> bool:
        """Whether ``slot`` was uploaded over the current link."""
        return slot in self._loaded

    def mark_loaded(self, slot: int) -> None:
        """The device acknowledged the upload of ``slot``."""
        self._loaded.add(slot)

    def link_renewed(self) -> None:
        """A fresh link: upload again before use (the device may have restarted)."""
        self._loaded.clear()
