"""Output requests: what ``set_intensity``, ``play_pattern`` and ``set_heat`` do
before anything is sent.

:class:`OutputRequests` checks a request's arguments against the device's
capabilities and its protocol, asks the safety policy, and records the wanted
state in the output plan (latest wins) for the engine to send. When any check
refuses, nothing changes. :func:`zones_of`, :func:`level_of` and
:func:`waveform_period` are the argument checks, shared with the control layer
and the command line.
"""

from __future__ import annotations

from collections.abc import Iterable

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.errors import NotSupported, SafetyRefusal
from massager_sdk.model import Pattern, Waveform
from massager_sdk.protocols import SetHeat, SetZones, UploadPattern
from massager_sdk.safety import SafetyPolicy
from massager_sdk.session.core import SessionCore
from massager_sdk.session.plan import ZoneOutput
from massager_sdk.session.slots import SlotsFull

ZoneKey = int | str
ZoneSpec = ZoneKey | Iterable[ZoneKey] | None


class OutputRequests:
    """The output calls of one session, up to the plan (the engine sends from there)."""

    def __init__(self, core: SessionCore) -> None:
        self._core = core

    def _connected(self) -> tuple[DeviceCapabilities, SafetyPolicy]:
        caps, safety = self._core.caps, self._core.safety
        if caps is None or safety is None:
            raise RuntimeError("the device is not connected yet: use 'async with connect(...)'")
        return caps, safety

    def intensity(self, zone: ZoneSpec, level: int, waveform: Waveform, period: float) -> None:
        """Want ``level`` on ``zone`` with ``waveform`` (see ``Device.set_intensity``)."""
        caps, _ = self._connected()
        zones = zones_of(caps, zone)
        level = level_of(caps, level)
        period = waveform_period(waveform, period)
        self._core.adapter.validate(SetZones(zones, level, waveform, period))
        self._check_levels(zones, level)
        self._schedule(zones, ZoneOutput(level, waveform, period))

    def pattern(self, pattern: Pattern, zone: ZoneSpec, intensity: int, phase: float) -> None:
        """Want ``pattern`` looping on ``zone`` (see ``Device.play_pattern``)."""
        caps, _ = self._connected()
        adapter, plan = self._core.adapter, self._core.plan
        if not caps.supports_patterns:
            raise NotSupported(f"{caps.model} cannot play uploaded patterns")
        if not isinstance(pattern, Pattern):
            raise TypeError(
                f"pattern must be a massager_sdk.model.Pattern, got {type(pattern).__name__}"
            )
        zones = zones_of(caps, zone)
        level = level_of(caps, intensity)
        if not (isinstance(phase, int | float) and 0.0 <= phase < 1.0):
            raise ValueError(f"phase must be a fraction of the loop, 0 <= phase < 1, got {phase!r}")
        steps = adapter.pattern_length(pattern)
        if steps > caps.pattern_max_steps:
            raise ValueError(
                f"a pattern of {steps} steps is longer than the {caps.pattern_max_steps} "
                f"steps {caps.model} stores"
            )
        try:
            slot, evict = plan.slots.choose(pattern, plan.busy_patterns())
        except SlotsFull:
            raise ValueError(
                f"all {plan.slots.capacity} pattern slots of {caps.model} hold patterns "
                "that are playing; stop a zone or play one of those patterns"
            ) from None
        phase_s = phase * pattern.loop_s
        adapter.validate(UploadPattern(slot, pattern))
        adapter.validate(SetZones(zones, level, pattern_slot=slot, phase_s=phase_s))
        self._check_levels(zones, level)
        plan.slots.assign(pattern, slot, evict)
        self._schedule(zones, ZoneOutput(level, Waveform.CONSTANT, 0.0, pattern, phase_s))

    def heat(self, target_c: float | None) -> None:
        """Want the heater at ``target_c`` (see ``Device.set_heat``)."""
        caps, safety = self._connected()
        core = self._core
        heat = caps.heat
        if isinstance(target_c, bool) or not isinstance(target_c, int | float | None):
            raise TypeError(f"target_c must be a number of degrees C or None, got {target_c!r}")
        target = None if not target_c else float(target_c)
        if heat is None:
            if target is None:
                return
            raise NotSupported(f"{caps.model} has no heater")
        if target is not None and not 0 < target <= heat.limit_c:
            raise ValueError(
                f"heat target {target} C is outside 0..{heat.limit_c} C (the limit of {caps.model})"
            )
        try:
            applied = safety.check_heat(target, core.now())
        except SafetyRefusal:
            core.stats.safety_refusals += 1
            raise
        core.adapter.validate(SetHeat(applied))
        core.stats.coalesced += core.plan.wish_heat(applied)
        core.kick()

    def _check_levels(self, zones: tuple[int, ...], level: int) -> None:
        """Every zone's level past the safety policy (before anything changes)."""
        _, safety = self._connected()
        core = self._core
        now = core.now()
        try:
            for zone in zones:
                safety.check_output(zone, level, now)
        except SafetyRefusal:
            core.stats.safety_refusals += 1
            raise

    def _schedule(self, zones: tuple[int, ...], out: ZoneOutput) -> None:
        """Want ``out`` on ``zones`` and wake the engine (latest wins)."""
        core = self._core
        core.stats.coalesced += core.plan.wish(zones, out)
        core.kick()


def zones_of(caps: DeviceCapabilities, zone: ZoneSpec) -> tuple[int, ...]:
    """The zone indexes ``zone`` names (index, name, several, or ``None`` for all)."""
    if zone is None:
        return tuple(z.index for z in caps.zones)
    keys: Iterable[ZoneKey] = [zone] if isinstance(zone, int | str) else zone
    found: set[int] = set()
    for key in keys:
        if isinstance(key, bool) or not isinstance(key, int | str):
            raise TypeError(f"a zone is an index or a name, got {key!r}")
        try:
            found.add(caps.zone(key).index)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
    if not found:
        raise ValueError("no zone given; pass None for every zone")
    return tuple(sorted(found))


def level_of(caps: DeviceCapabilities, level: int) -> int:
    """``level`` checked against the device's intensity steps."""
    steps = caps.intensity_steps
    if isinstance(level, bool) or not isinstance(level, int):
        raise TypeError(f"level must be an integer 0..{steps}, got {level!r}")
    if not 0 <= level <= steps:
        raise ValueError(f"level {level} is outside 0..{steps} of {caps.model}")
    return level


def waveform_period(waveform: Waveform, period: float) -> float:
    """The period a waveform runs with (0 for CONSTANT); PULSE and WAVE need one > 0."""
    if not isinstance(waveform, Waveform):
        raise TypeError(f"waveform must be a Waveform ({', '.join(w.name for w in Waveform)})")
    if waveform is Waveform.CONSTANT:
        return 0.0
    if not (isinstance(period, int | float) and period > 0):
        raise ValueError(f"a {waveform.name} waveform needs period > 0 seconds, got {period!r}")
    return float(period)
