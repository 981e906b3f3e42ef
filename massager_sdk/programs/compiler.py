"""Compile a program for one device: envelopes -> timeline -> command stream.

The compiler is pure and deterministic (same program and capabilities, same
result). It works in two stages, each testable alone:

1. :func:`build_timeline`: every step's technique generates its envelopes on
   the zones it may use; they are quantised to the device's intensity steps and
   held to its heater. The :class:`Timeline` says what each zone and the heater
   do at every instant, with the stage and step boundaries.
2. :func:`command_stream`: the timeline's changes become commands that fit the
   link: only changes are sent, zones wanting the same output share a command,
   and no two commands are closer than the device's minimum gap (a change that
   arrives while the link is busy replaces the one waiting: latest wins).

Fast rhythms (rubbing circles, vibration pats, pinching pulses) are carriers:
where the device loops uploaded patterns they become one ``play_pattern`` per
change of their slow contour; otherwise they are streamed if the link budget
allows, or left to the device's own pulse/wave waveform, with a note.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import math
from collections.abc import Sequence
from typing import NamedTuple, TypeVar

from massager_sdk.capabilities import DeviceCapabilities, Zone
from massager_sdk.model import Pattern, PatternStep
from massager_sdk.programs.commands import (
    OFF,
    Emitter,
    Output,
    PlayPattern,
    Stop,
    TimedCommand,
)
from massager_sdk.programs.program import HEAT_MAX_C, Program, Step
from massager_sdk.programs.techniques import (
    Carrier,
    Contour,
    Envelope,
    StepContext,
    ZoneEnvelope,
)

#: A streamed rhythm may use at most this share of the link's command budget.
STREAM_BUDGET = 0.5
_EPS = 1e-9
V = TypeVar("V")


@dataclasses.dataclass(frozen=True, slots=True)
class StepSpan:
    """Where one step sits in the timeline."""

    index: int  #: position of the step in the whole program
    stage_index: int
    stage: str
    name: str
    technique: str
    start_s: float
    end_s: float
    heat_c: float | None  #: the heater target actually used (held to the device)


@dataclasses.dataclass(frozen=True, slots=True)
class Timeline:
    """Per-zone outputs (device steps) and the heater target over program time."""

    duration_s: float
    zone_names: tuple[str, ...]
    intensity_steps: int
    #: per zone, the changes (time, output), starting at 0.0 with :data:`OFF`
    outputs: tuple[tuple[tuple[float, Output], ...], ...]
    heat: tuple[tuple[float, float | None], ...]
    spans: tuple[StepSpan, ...]

    def output_at(self, zone: int, t: float) -> Output:
        """What ``zone`` does at program time ``t``."""
        changes = self.outputs[zone]
        i = bisect.bisect_right(changes, t, key=lambda c: c[0]) - 1
        return changes[max(i, 0)][1]

    def level_at(self, zone: int, t: float) -> int:
        """The level (0..intensity_steps) of ``zone`` at ``t``; for a pattern, its scale."""
        return self.output_at(zone, t).level

    def heat_at(self, t: float) -> float | None:
        """The heater target at ``t`` (``None`` when off)."""
        i = bisect.bisect_right(self.heat, t, key=lambda c: c[0]) - 1
        return self.heat[max(i, 0)][1]

    def state_at(self, t: float) -> tuple[list[Output], float | None]:
        """Every zone's output and the heater target at ``t``."""
        return [self.output_at(z, t) for z in range(len(self.outputs))], self.heat_at(t)

    def span_at(self, t: float) -> StepSpan:
        """The step playing at ``t`` (the last one at or after the end)."""
        i = bisect.bisect_right(self.spans, t, key=lambda s: s.start_s) - 1
        return self.spans[max(i, 0)]


@dataclasses.dataclass(frozen=True, slots=True)
class CompiledProgram:
    """A program made for one device: its timeline, command stream and notes."""

    program: Program
    caps: DeviceCapabilities
    timeline: Timeline
    commands: tuple[TimedCommand, ...]
    #: how the program was adapted to the device (fewer zones, no heater...)
    notes: tuple[str, ...]

    @property
    def duration_s(self) -> float:
        """Length of the program."""
        return self.timeline.duration_s

    @property
    def patterns(self) -> tuple[Pattern, ...]:
        """The distinct patterns the device is asked to loop."""
        seen: dict[Pattern, None] = {}
        for timed in self.commands:
            if isinstance(timed.command, PlayPattern):
                seen.setdefault(timed.command.pattern)
        return tuple(seen)


def compile_program(
    program: Program, caps: DeviceCapabilities, *, zone_max: Sequence[int] | None = None
) -> CompiledProgram:
    """Compile ``program`` for a device with capabilities ``caps``.

    ``zone_max`` holds each zone to a highest level (the safety policy's
    ``zone_max``: a screening cap, the front of the neck); levels above it are
    held at it, with a note. The runner passes it when the device has a policy.
    """
    held = None if zone_max is None else tuple(zone_max)
    # Devices of one model differ in serial and firmware, which the compiler never reads.
    alike = dataclasses.replace(caps, serial="", firmware="")
    for made in _RECENT:
        if made.caps == alike and made.zone_max == held and made.program == program:
            return dataclasses.replace(made.compiled, caps=caps)
    timeline, notes = build_timeline(program, caps, zone_max=zone_max)
    commands = command_stream(timeline, caps.min_gap_s)
    compiled = CompiledProgram(program, caps, timeline, tuple(commands), tuple(notes))
    _RECENT.append(_Made(program, alike, held, compiled))
    return compiled


class _Made(NamedTuple):
    program: Program
    caps: DeviceCapabilities
    zone_max: tuple[int, ...] | None
    compiled: CompiledProgram


#: The last programs compiled, shared (a result is immutable, and the same for the same
#: program and alike devices): a bridge playing one program on a hundred devices of a
#: model compiles it once and holds one command stream, not a hundred that the garbage
#: collector scans over and over (each full collection then holds every runner up).
_RECENT: collections.deque[_Made] = collections.deque(maxlen=8)


# --------------------------------------------------------------------------
# Stage 1: the timeline
# --------------------------------------------------------------------------


class _Notes(list[str]):
    def add(self, text: str) -> None:
        if text not in self:
            self.append(text)


def build_timeline(
    program: Program, caps: DeviceCapabilities, *, zone_max: Sequence[int] | None = None
) -> tuple[Timeline, list[str]]:
    """The timeline of ``program`` on ``caps``, and the notes on how it was adapted."""
    notes = _Notes()
    zone_count = len(caps.zones)
    if zone_max is not None and len(zone_max) != zone_count:
        raise ValueError(f"zone_max has {len(zone_max)} values for {zone_count} zones")
    if caps.electrical:
        notes.add(
            f"{caps.model} stimulates electrically: the program's levels are scaled to at "
            f"most {program_steps(caps)} of {caps.intensity_steps} (docs/safety.md)"
        )
    outputs: list[list[tuple[float, Output]]] = [[(0.0, OFF)] for _ in range(zone_count)]
    heat: list[tuple[float, float | None]] = [(0.0, None)]
    spans: list[StepSpan] = []
    start = 0.0
    index = 0
    for stage_index, stage in enumerate(program.stages):
        for step in stage.steps:
            zones = _select_zones(step, caps, notes)
            held = _hold_heat(step.heat_c, caps, notes)
            _change(heat, start, held)
            playing: set[int] = set()
            if zones and step.intensity > 0:
                ctx = StepContext(zones, step.duration_s, step.cycles, step.intensity, step.params)
                envelope = step.kind.envelope(ctx)
                for text in envelope.notes:
                    notes.add(text)
                rendered = _render(envelope, start, caps, step.name, notes)
                for zone_index, changes in rendered.items():
                    playing.add(zone_index)
                    ceiling = caps.intensity_steps if zone_max is None else zone_max[zone_index]
                    if caps.electrical and caps.zones[zone_index].gentle_only:
                        ceiling = 0  # never current over the front of the neck
                    for t, out in changes:
                        if out.level > ceiling:
                            notes.add(
                                f"zone {caps.zones[zone_index].name!r}: levels held to "
                                f"{ceiling} of {caps.intensity_steps}, the most the safety "
                                "policy allows there"
                            )
                            out = out._replace(level=ceiling) if ceiling > 0 else OFF
                        _change(outputs[zone_index], t, out)
            for zone_index in range(zone_count):
                if zone_index not in playing:
                    _change(outputs[zone_index], start, OFF)
            end = start + step.duration_s
            spans.append(
                StepSpan(
                    index, stage_index, stage.name, step.name, step.technique, start, end, held
                )
            )
            start = end
            index += 1
    for changes in outputs:
        _change(changes, start, OFF)
    _change(heat, start, None)
    timeline = Timeline(
        duration_s=start,
        zone_names=tuple(z.name for z in caps.zones),
        intensity_steps=caps.intensity_steps,
        outputs=tuple(tuple(c) for c in outputs),
        heat=tuple(heat),
        spans=tuple(spans),
    )
    return timeline, list(notes)


def _change(changes: list[tuple[float, V]], t: float, value: V) -> None:
    """Append a change, dropping repeats and replacing one at the same instant."""
    if changes and changes[-1][1] == value:
        return
    if changes and changes[-1][0] >= t - _EPS:
        changes.pop()
        if changes and changes[-1][1] == value:
            return
    changes.append((t, value))


def _matches(zone: Zone, selector: str) -> bool:
    key = selector.lower()
    return key in ("all", zone.row.name.lower(), zone.side.name.lower(), zone.name.lower())


def _select_zones(step: Step, caps: DeviceCapabilities, notes: _Notes) -> tuple[Zone, ...]:
    """The zones a step plays on, and why they differ from what it asked for."""
    kind = step.kind
    zones: tuple[Zone, ...] = caps.zones
    if step.zones:
        chosen = tuple(z for z in caps.zones if any(_matches(z, s) for s in step.zones))
        missing = [s for s in step.zones if not any(_matches(z, s) for z in caps.zones)]
        if missing:
            notes.add(
                f"{step.name}: no zone {', '.join(repr(m) for m in missing)} on "
                f"{caps.model}" + ("" if chosen else "; it plays on every zone")
            )
        zones = chosen or caps.zones
    elif kind.preferred_row is not None:
        row = kind.preferred_row
        preferred = tuple(z for z in caps.zones if z.row == row)
        if preferred:
            zones = preferred
        else:
            notes.add(
                f"{kind.name}: works the {row.name.lower()}, which {caps.model} has no zone "
                "for; it plays on every zone"
            )
    if not kind.gentle:
        gentle = [z.name for z in zones if z.gentle_only]
        if gentle:
            notes.add(
                f"{kind.name}: zone {', '.join(repr(g) for g in gentle)} is over the front "
                "of the neck, which takes gentle stroking only; it is left out"
            )
            zones = tuple(z for z in zones if not z.gentle_only)
            if not zones:
                notes.add(f"{step.name}: no zone may take {kind.name}; the step is a rest")
    return zones


def _hold_heat(target: float | None, caps: DeviceCapabilities, notes: _Notes) -> float | None:
    """The heater target the device can and may use for ``target``."""
    if target is None:
        return None
    if caps.heat is None:
        notes.add(f"heat: {caps.model} has no heater, so heat {target:g} C is left out")
        return None
    ceiling = min(HEAT_MAX_C, caps.heat.limit_c)
    presets = sorted(t for t in caps.heat.targets_c if t <= ceiling)
    if caps.heat.targets_c:
        fitting = [p for p in presets if p <= target + _EPS]
        if not fitting:
            low = min(caps.heat.targets_c)
            notes.add(
                f"heat: {target:g} C is below the lowest preset of {caps.model} "
                f"({low:g} C), so the heater stays off"
            )
            return None
        held = fitting[-1]
    else:
        held = min(target, ceiling)
    if held != target:
        notes.add(f"heat: {target:g} C is held to {held:g} C, the most {caps.model} allows")
    return held


def quantise(contour: Contour, steps: int, offset: float = 0.0) -> list[tuple[float, int]]:
    """The level changes (time, level) of a contour on a device with ``steps`` levels.

    Levels round half up; each change happens exactly where the contour crosses
    the midpoint between two levels, so nothing is sampled and nothing is missed.
    """
    times, levels = contour.times, contour.levels
    current = math.floor(levels[0] * steps + 0.5)
    out = [(offset + times[0], current)]
    for i in range(len(times) - 1):
        t0, t1 = times[i], times[i + 1]
        v0, v1 = levels[i] * steps, levels[i + 1] * steps
        if v1 > v0:
            threshold = current + 0.5
            while threshold <= v1:
                current += 1
                out.append((offset + t0 + (threshold - v0) / (v1 - v0) * (t1 - t0), current))
                threshold += 1
        elif v1 < v0:
            threshold = current - 0.5
            while v1 < threshold:
                current -= 1
                out.append((offset + t0 + (v0 - threshold) / (v0 - v1) * (t1 - t0), current))
                threshold -= 1
    return out


def _transitions(pattern: Pattern) -> int:
    levels = [s.level for s in pattern.steps]
    return sum(1 for i, level in enumerate(levels) if level != levels[i - 1]) or 1


def _coarsen(pattern: Pattern) -> Pattern:
    """Half as many steps: neighbouring pairs merged (their mean level, their total time)."""
    steps = pattern.steps
    merged = []
    for a, b in zip(steps[::2], steps[1::2], strict=True):
        total = a.duration_s + b.duration_s
        level = (a.level * a.duration_s + b.level * b.duration_s) / total
        merged.append(PatternStep(round(level, 2), round(total, 3)))
    return Pattern(tuple(merged))


def _carrier_mode(
    envelope: Envelope, caps: DeviceCapabilities, label: str, notes: _Notes
) -> tuple[str, Pattern | None]:
    """How the step's rhythm is played: ``pattern``, ``stream`` (maybe coarser) or ``native``."""
    carriers = [env.carrier for env in envelope.zones.values() if env.carrier is not None]
    if not carriers:
        return "pattern", None
    pattern = carriers[0].pattern
    shortest = min(s.duration_s for s in pattern.steps) * 1000
    if caps.supports_patterns and len(pattern.steps) <= caps.pattern_max_steps:
        return "pattern", None
    why = (
        f"{caps.model} cannot loop patterns"
        if not caps.supports_patterns
        else f"its loop has more steps than {caps.model} takes"
    )
    groups = len({c.phase for c in carriers})
    budget = STREAM_BUDGET / max(caps.min_gap_s, 1e-3)
    streamed = pattern
    while groups * _transitions(streamed) / streamed.loop_s > budget and len(streamed.steps) >= 8:
        streamed = _coarsen(streamed)  # a coarser circle keeps the sides out of phase
    if groups * _transitions(streamed) / streamed.loop_s <= budget:
        coarser = "" if streamed is pattern else f" with {len(streamed.steps)} steps per loop"
        notes.add(
            f"{label}: {why}, so the host streams its rhythm "
            f"(steps of {shortest:.0f} ms and more){coarser}"
        )
        return "stream", streamed
    notes.add(
        f"{label}: {why} and its rhythm (steps of {shortest:.0f} ms) is faster than the link "
        f"(one command per {caps.min_gap_s * 1000:g} ms) can stream, so it becomes the "
        "device's own pulse/wave waveform (phases between zones are not kept)"
    )
    return "native", None


#: The share of an electrical (EMS/TENS) device's levels a program plays at most: a
#: program raises levels on its own, while the labelling asks to start low and go up
#: only as far as comfortable, which is the person's own step (``massager set``).
ELECTRICAL_FRACTION = 0.5


def program_steps(caps: DeviceCapabilities) -> int:
    """The levels a program's full intensity maps to: all of them, or on an electrical
    device :data:`ELECTRICAL_FRACTION` of them."""
    if caps.electrical:
        return max(1, math.floor(caps.intensity_steps * ELECTRICAL_FRACTION))
    return caps.intensity_steps


def _render(
    envelope: Envelope, start: float, caps: DeviceCapabilities, label: str, notes: _Notes
) -> dict[int, list[tuple[float, Output]]]:
    """Each zone's output changes for one step, in program time."""
    steps = program_steps(caps)
    mode, streamed = _carrier_mode(envelope, caps, label, notes)
    out: dict[int, list[tuple[float, Output]]] = {}
    for zone_index, env in envelope.zones.items():
        carrier = env.carrier
        if carrier is None:
            out[zone_index] = [(t, Output(v)) for t, v in quantise(env.contour, steps, start)]
        elif mode == "pattern":
            loop_s = carrier.pattern.loop_s
            origin = start - carrier.phase * loop_s
            out[zone_index] = [
                (t, Output.looping(v, carrier.pattern, origin, loop_s))
                for t, v in quantise(env.contour, steps, start)
            ]
        elif mode == "native":
            period = carrier.pattern.loop_s
            out[zone_index] = [
                (t, Output.on_waveform(v, carrier.native, period))
                for t, v in quantise(env.contour, steps, start)
            ]
        else:
            assert streamed is not None
            coarse = ZoneEnvelope(env.contour, Carrier(streamed, carrier.phase, carrier.native))
            out[zone_index] = _stream_carrier(coarse, envelope.duration_s, steps, start)
    return out


def _stream_carrier(
    env: ZoneEnvelope, duration: float, steps: int, start: float
) -> list[tuple[float, Output]]:
    """Sample contour x carrier at every step of the carrier's loop."""
    assert env.carrier is not None
    loop = env.carrier.pattern.steps
    loop_s = env.carrier.pattern.loop_s
    # Find the loop step where the step begins.
    pos = (env.carrier.phase * loop_s) % loop_s
    k = 0
    while pos >= loop[k].duration_s and k < len(loop) - 1:
        pos -= loop[k].duration_s
        k += 1
    t = 0.0
    out: list[tuple[float, Output]] = []
    while t < duration - _EPS:
        end = min(duration, t + loop[k].duration_s - pos)
        level = math.floor(env.contour.at((t + end) / 2) * loop[k].level * steps + 0.5)
        if not out or out[-1][1].level != level:
            out.append((start + t, Output(level)))
        t, pos, k = end, 0.0, (k + 1) % len(loop)
    return out


# --------------------------------------------------------------------------
# Stage 2: the command stream
# --------------------------------------------------------------------------


def command_stream(timeline: Timeline, min_gap_s: float) -> list[TimedCommand]:
    """Commands that play ``timeline`` on a link taking one command per ``min_gap_s``."""
    zone_count = len(timeline.outputs)
    events: list[tuple[float, int, Output | float | None]] = []
    for zone, changes in enumerate(timeline.outputs):
        events.extend((t, zone, out) for t, out in changes)
    events.extend((t, zone_count, target) for t, target in timeline.heat)
    # The final stop turns everything off: changes at the very end are left to it.
    events = [e for e in events if e[0] < timeline.duration_s - _EPS]
    events.sort(key=lambda e: (e[0], e[1]))
    wanted: list[Output] = [OFF] * zone_count
    heat: float | None = None
    emitter = Emitter(zone_count)
    out: list[TimedCommand] = []
    now = 0.0
    i = 0
    while True:
        # Everything due by now is wanted; a newer value replaces an unsent one.
        while i < len(events) and events[i][0] <= now + _EPS:
            _, zone, value = events[i]
            if zone == zone_count:
                assert not isinstance(value, Output)
                heat = value
            else:
                assert isinstance(value, Output)
                wanted[zone] = value
            i += 1
        command = emitter.next(wanted, heat, now)
        if command is not None:
            out.append(TimedCommand(now, command))
            now += min_gap_s
            continue
        if i >= len(events):
            break
        now = max(now, events[i][0])
    out.append(TimedCommand(max(now, timeline.duration_s), Stop()))
    return out
