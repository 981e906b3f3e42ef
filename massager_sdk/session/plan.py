"""The output plan: what to send the device next, without I/O.

The plan holds what the host wants of each zone and of the heater, what the
device acknowledged, when each rising zone may step again and when the link
last carried an output command. :meth:`OutputPlan.next` turns that and the
current time into one decision:

- :class:`SendHeat`, :class:`SendZones` or :class:`Upload`: send this now;
- :class:`Wait`: nothing to send before ``at`` (``inf``: until something changes).

The caller does the I/O and reports back: :meth:`OutputPlan.acknowledged_heat`,
:meth:`OutputPlan.acknowledged_zones`, :meth:`OutputPlan.uploaded`, or one of
the ``refused_*`` methods. A command may have gone stale while it waited for
the link (a stop or a newer wish overtook it): :meth:`OutputPlan.still_wanted`
says so. Latest wins: a new wish replaces the old one, so nothing queues.

Rules, in order:

1. Output commands keep the link's minimum gap between them.
2. The heater and the zones take turns, so neither starves the other.
3. A rising zone steps toward its target once per ramp interval, by the step
   the ramp allows (the safety policy's); falling is immediate.
4. One command carries every pending zone that gets the same drive; a zone that
   plays a pattern not yet uploaded over this link waits for its upload.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Protocol

from massager_sdk.errors import SafetyRefusal
from massager_sdk.model import Pattern, Waveform
from massager_sdk.session.slots import PatternSlots

#: Times this close count as reached: a timer may wake a hair early in float arithmetic.
EPS = 1e-6


@dataclasses.dataclass(frozen=True, slots=True)
class ZoneOutput:
    """What one zone is told to do."""

    level: int = 0
    waveform: Waveform = Waveform.CONSTANT
    period_s: float = 0.0
    pattern: Pattern | None = None
    phase_s: float = 0.0  #: seconds into the pattern's loop

    def at(self, level: int) -> ZoneOutput:
        """The same drive at another level."""
        return dataclasses.replace(self, level=level)


#: A zone at rest.
OFF = ZoneOutput()


@dataclasses.dataclass(frozen=True, slots=True)
class OutputState:
    """Every zone's output and the heater's target (``None``: off), as one snapshot."""

    zones: tuple[ZoneOutput, ...]
    heat_c: float | None

    @property
    def levels(self) -> tuple[int, ...]:
        """Each zone's level."""
        return tuple(z.level for z in self.zones)

    @property
    def running(self) -> bool:
        """Whether a zone or the heater is on."""
        return any(self.levels) or self.heat_c is not None


class Ramp(Protocol):
    """How fast a rising level may climb (the safety policy is one)."""

    @property
    def ramp_interval_s(self) -> float:
        """Seconds between two steps of a rising zone."""
        ...

    def ramp_level(self, zone: int, current: int, target: int, now: float) -> int:
        """The level to send now on the way from ``current`` to ``target``."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class SendHeat:
    """Send this heater target."""

    target_c: float | None
    epoch: int


@dataclasses.dataclass(frozen=True, slots=True)
class SendZones:
    """Send ``output`` to ``zones`` (``slot``: the pattern slot it plays, if any)."""

    zones: tuple[int, ...]
    output: ZoneOutput
    slot: int | None
    epoch: int
    wanted: tuple[ZoneOutput, ...]  #: what each zone wanted when this was planned


@dataclasses.dataclass(frozen=True, slots=True)
class Upload:
    """Upload ``pattern`` to ``slot`` before a zone may play it."""

    slot: int
    pattern: Pattern
    epoch: int


@dataclasses.dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to send before ``at`` (event-loop time; ``inf``: until something changes)."""

    at: float


Decision = SendHeat | SendZones | Upload | Wait


class OutputPlan:
    """Wanted and acknowledged outputs of one device, and what to send next."""

    def __init__(self, zones: int, slots: PatternSlots, *, gap_s: float = 0.0) -> None:
        self.slots = slots
        #: The shortest time between two output commands.
        self.gap_s = gap_s
        self._want: list[ZoneOutput] = [OFF] * zones
        self._told: list[ZoneOutput] = [OFF] * zones
        self._heat_want: float | None = None
        self._heat_told: float | None = None
        self._epoch = 0  # bumped by every clear(): decisions made before it are stale
        self._ramp_due: dict[int, float] = {}  # when each rising zone may step again
        self._last_output = -math.inf
        self._heat_turn = False
        self._refusals: list[SafetyRefusal] = []

    # -- reading ---------------------------------------------------------------

    @property
    def wanted(self) -> OutputState:
        """What the host wants."""
        return OutputState(tuple(self._want), self._heat_want)

    @property
    def acknowledged(self) -> OutputState:
        """What the device acknowledged (or, after a status, showed it runs)."""
        return OutputState(tuple(self._told), self._heat_told)

    @property
    def pending(self) -> int:
        """Outputs (zones and heater) whose wanted state the device has not confirmed."""
        zones = sum(w != t for w, t in zip(self._want, self._told, strict=True))
        return zones + (self._heat_want != self._heat_told)

    @property
    def running(self) -> bool:
        """Whether anything is on, as far as the device acknowledged."""
        return any(d.level for d in self._told) or self._heat_told is not None

    def heat_pending(self) -> bool:
        """Whether the heater's wanted target is not confirmed yet."""
        return self._heat_want != self._heat_told

    def busy_patterns(self) -> list[Pattern]:
        """Patterns a zone plays or is about to play (their slots are kept)."""
        return [d.pattern for d in (*self._want, *self._told) if d.pattern is not None]

    def take_refusals(self) -> list[SafetyRefusal]:
        """Wishes the ramp refused while planning (each is dropped), oldest first."""
        refusals, self._refusals = self._refusals, []
        return refusals

    # -- wishes ----------------------------------------------------------------

    def wish(self, zones: tuple[int, ...], output: ZoneOutput) -> int:
        """Want ``output`` on ``zones``; returns how many unsent wishes it replaced."""
        replaced = 0
        for zone in zones:
            replaced += self._want[zone] != self._told[zone]
            self._want[zone] = output
        return replaced

    def wish_heat(self, target_c: float | None) -> int:
        """Want the heater at ``target_c``; returns 1 if it replaced an unsent wish."""
        replaced = int(self._heat_want != self._heat_told)
        self._heat_want = target_c
        return replaced

    def clear(self) -> None:
        """Want nothing, and make every decision made before stale."""
        self._epoch += 1
        self._want = [OFF] * len(self._want)
        self._heat_want = None
        self._ramp_due.clear()

    # -- what the device says --------------------------------------------------

    def stopped(self) -> None:
        """The device switched everything off."""
        self._told = [OFF] * len(self._told)
        self._heat_told = None

    def heat_stopped(self) -> None:
        """The device switched the heater off."""
        self._heat_told = None

    def showed(self, levels: tuple[int, ...], heat_c: float | None, *, follow: bool) -> None:
        """A status shows what the device runs: take it as acknowledged.

        ``follow`` (a monitor, which wants nothing of its own) wants just that too.
        """
        padded = list(levels[: len(self._told)])
        padded += [0] * (len(self._told) - len(padded))
        self._told = [OFF.at(level) for level in padded]
        self._heat_told = heat_c
        if follow:
            self._want, self._heat_want = list(self._told), self._heat_told

    def still_wanted(self, decision: SendHeat | SendZones | Upload) -> bool:
        """Whether ``decision`` still stands (nothing overtook it since it was made)."""
        if decision.epoch != self._epoch:
            return False
        if isinstance(decision, SendHeat):
            return self._heat_want == decision.target_c
        if isinstance(decision, SendZones):
            return all(
                self._want[z] == w for z, w in zip(decision.zones, decision.wanted, strict=True)
            )
        return self.slots.slot_of(decision.pattern) == decision.slot

    def acknowledged_heat(self, decision: SendHeat) -> None:
        """The device runs ``decision`` (even if a stop overtook it meanwhile)."""
        self._heat_told = decision.target_c

    def acknowledged_zones(self, decision: SendZones, now: float, ramp: Ramp) -> None:
        """The device runs ``decision`` since ``now``; a zone still rising waits one interval."""
        for zone in decision.zones:
            self._told[zone] = decision.output
            if decision.output.level < self._want[zone].level:
                self._ramp_due[zone] = now + ramp.ramp_interval_s

    def uploaded(self, decision: Upload) -> None:
        """The device stores ``decision.pattern`` in its slot."""
        self.slots.mark_loaded(decision.slot)

    def refused_heat(self) -> None:
        """The device refused the heater target: keep what it runs."""
        self._heat_want = self._heat_told

    def refused_zones(self, decision: SendZones) -> None:
        """The device refused the zones' output: they keep what they run."""
        for zone in decision.zones:
            self._want[zone] = self._told[zone]

    def refused_upload(self, decision: Upload) -> None:
        """The device refused the pattern: zones that wanted it keep what they run."""
        for zone, output in enumerate(self._want):
            if output.pattern == decision.pattern:
                self._want[zone] = self._told[zone]

    # -- deciding --------------------------------------------------------------

    def next(self, now: float, ramp: Ramp) -> Decision:
        """The next command to send at ``now``, or when to look again.

        A decision to send counts as sent at ``now`` (for the minimum gap).
        """
        heat_pending = self._heat_want != self._heat_told
        pending = [z for z in range(len(self._want)) if self._want[z] != self._told[z]]
        if not (heat_pending or pending):
            return Wait(math.inf)
        ready_at = self._last_output + self.gap_s
        if now + EPS < ready_at:
            return Wait(ready_at)
        self._heat_turn = not self._heat_turn
        if heat_pending and (self._heat_turn or not pending):
            return self._heat(now)
        decision = self._zones(pending, now, ramp)
        if isinstance(decision, Wait) and heat_pending:
            return self._heat(now)  # the zones wait for their ramp: the heater need not
        return decision

    def _heat(self, now: float) -> SendHeat:
        self._last_output = now
        return SendHeat(self._heat_want, self._epoch)

    def _zones(self, pending: list[int], now: float, ramp: Ramp) -> Decision:
        planned: dict[int, ZoneOutput] = {}
        waits: list[float] = []
        for zone in pending:
            want, told = self._want[zone], self._told[zone]
            level = want.level
            if want.level > told.level:
                due = self._ramp_due.get(zone, -math.inf)
                if now + EPS < due:
                    waits.append(due)
                    continue
                try:
                    level = ramp.ramp_level(zone, told.level, want.level, now)
                except SafetyRefusal as exc:  # the policy changed its mind since the wish
                    self._want[zone] = told
                    self._refusals.append(exc)
                    continue
                level = max(min(level, want.level), 0)
            output = want.at(level)
            if output != told:
                planned[zone] = output
        if not planned:
            return Wait(min(waits) if waits else now + ramp.ramp_interval_s)
        first = next(iter(planned.values()))
        slot = None
        if first.pattern is not None:
            slot = self.slots.slot_of(first.pattern)
            assert slot is not None, "a pattern is given a slot before a zone may want it"
            if not self.slots.loaded(slot):
                return Upload(slot, first.pattern, self._epoch)
        zones = tuple(z for z, output in planned.items() if output == first)
        self._last_output = now
        return SendZones(zones, first, slot, self._epoch, tuple(self._want[z] for z in zones))
