"""Massage techniques as generators of per-zone intensity envelopes.

Each technique of the source article (see ``docs/programs.md``) turns its
parameters, a duration, a number of repetitions (cycles) and the zones of a
device into an :class:`Envelope`: for every zone, a slowly varying *contour*
(0.0 .. 1.0 over time, piecewise linear) and, for rhythms faster than a person
would stream by hand, a *carrier*: a short loop (a :class:`~massager_sdk.model.Pattern`)
that multiplies the contour. The compiler later decides whether the device
loops the carrier itself, or the host streams it.

Direction and rhythm are expressed through where zones sit (:attr:`Zone.row`
top to bottom, :attr:`Zone.side` left and right). With fewer zones a technique
degrades and says how in :attr:`Envelope.notes`.
"""

from __future__ import annotations

import abc
import bisect
import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import ClassVar

from massager_sdk.capabilities import Row, Side, Zone
from massager_sdk.model import Pattern, PatternStep, Waveform
from massager_sdk.programs.params import Param, ParamValue
from massager_sdk.safety.limits import SafetyLimits

#: Every step fades in and out over this long (or a quarter of the step, if
#: shorter): "movements must never be sharp or sudden".
FADE_S = 1.0
#: Peak level on zones over the front of the neck, which take gentle stroking only
#: (the safety policy's default ``gentle_fraction``).
GENTLE_LEVEL = SafetyLimits().gentle_fraction


# --------------------------------------------------------------------------
# Envelopes
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Contour:
    """A piecewise-linear level over time: ``levels[i]`` at ``times[i]`` (seconds)."""

    times: tuple[float, ...]
    levels: tuple[float, ...]

    def at(self, t: float) -> float:
        """The level at ``t``, held flat before the first and after the last point."""
        times = self.times
        if t <= times[0]:
            return self.levels[0]
        if t >= times[-1]:
            return self.levels[-1]
        i = bisect.bisect_right(times, t)
        t0, t1 = times[i - 1], times[i]
        v0, v1 = self.levels[i - 1], self.levels[i]
        if t1 == t0:
            return v1
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0)

    @property
    def peak(self) -> float:
        """The highest level."""
        return max(self.levels)


@dataclasses.dataclass(frozen=True, slots=True)
class Carrier:
    """A fast periodic rhythm that multiplies a contour.

    ``pattern`` is one loop (levels are fractions of the contour); ``phase`` is
    where in the loop the step starts, as a fraction of the loop; ``native`` is
    the device waveform closest to the loop, used where a device can neither
    loop patterns nor be streamed fast enough.
    """

    pattern: Pattern
    phase: float = 0.0
    native: Waveform = Waveform.PULSE

    def at(self, t: float) -> float:
        """The loop's level ``t`` seconds after the step start."""
        loop = self.pattern.loop_s
        pos = (self.phase * loop + t) % loop
        for step in self.pattern.steps:
            if pos < step.duration_s:
                return step.level
            pos -= step.duration_s
        return self.pattern.steps[-1].level


@dataclasses.dataclass(frozen=True, slots=True)
class ZoneEnvelope:
    """What one zone does during a step."""

    contour: Contour
    carrier: Carrier | None = None

    def at(self, t: float) -> float:
        """The intensity (0.0 .. 1.0) at ``t`` seconds into the step."""
        level = self.contour.at(t)
        return level * self.carrier.at(t) if self.carrier is not None else level


@dataclasses.dataclass(frozen=True, slots=True)
class Envelope:
    """Per-zone intensity envelopes of one step, keyed by zone index."""

    duration_s: float
    zones: Mapping[int, ZoneEnvelope]
    notes: tuple[str, ...] = ()

    def level(self, zone: int, t: float) -> float:
        """The intensity of ``zone`` at ``t`` seconds into the step (0 for unused zones)."""
        env = self.zones.get(zone)
        return env.at(t) if env is not None else 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class StepContext:
    """What a technique generates from: timing, level, zones and parameters."""

    zones: tuple[Zone, ...]  #: the zones the step plays on (never empty)
    duration_s: float
    cycles: int  #: repetitions; one cycle lasts ``duration_s / cycles``
    level: float  #: the peak level, 0.0 .. 1.0 of the device's range
    params: Mapping[str, ParamValue]

    @property
    def cycle_s(self) -> float:
        """Length of one repetition."""
        return self.duration_s / self.cycles

    def number(self, name: str) -> float:
        """A numeric parameter."""
        value = self.params[name]
        assert isinstance(value, int | float)
        return float(value)

    def text(self, name: str) -> str:
        """A string parameter."""
        return str(self.params[name])


class _Path:
    """Builds a contour point by point (times never go backwards)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.levels: list[float] = []

    def add(self, t: float, level: float) -> None:
        if self.times and t < self.times[-1]:
            t = self.times[-1]
        if self.times and t == self.times[-1] and level == self.levels[-1]:
            return
        self.times.append(t)
        self.levels.append(level)

    def contour(self, duration: float) -> Contour:
        if not self.times or self.times[0] > 0:
            self.times.insert(0, 0.0)
            self.levels.insert(0, self.levels[0] if self.levels else 0.0)
        if self.times[-1] < duration:
            self.add(duration, self.levels[-1])
        return Contour(tuple(self.times), tuple(self.levels))


def _bump(path: _Path, start: float, width: float, peak: float, points: int = 8) -> None:
    """A raised-cosine swell from 0 up to ``peak`` and back, ``width`` seconds long."""
    for k in range(points + 1):
        u = k / points
        path.add(start + u * width, peak * (1 - math.cos(2 * math.pi * u)) / 2)


def _plateau(
    path: _Path, start: float, end: float, peak: float, ramp: float, base: float = 0.0
) -> None:
    """From ``base`` up to ``peak`` over ``ramp``, held, then back down by ``end``."""
    ramp = min(ramp, (end - start) / 2)
    path.add(start, base)
    path.add(start + ramp, peak)
    path.add(end - ramp, peak)
    path.add(end, base)


def _fade(contour: Contour, duration: float) -> Contour:
    """Scale the contour to 0 at both ends of the step over :data:`FADE_S`."""
    fade = min(FADE_S, duration / 4)
    times = list(contour.times)
    levels = list(contour.levels)
    for edge in (fade, duration - fade):
        if edge not in times:
            i = bisect.bisect_left(times, edge)
            times.insert(i, edge)
            levels.insert(i, contour.at(edge))
    faded = [
        level * min(1.0, t / fade, (duration - t) / fade)
        for t, level in zip(times, levels, strict=True)
    ]
    return Contour(tuple(times), tuple(max(0.0, v) for v in faded))


def _loop(steps: Sequence[tuple[float, float]]) -> Pattern:
    """A pattern from (level, seconds) pairs, rounded to what NMP/1 carries (1 %, 1 ms)."""
    return Pattern(
        tuple(PatternStep(round(level, 2), max(0.001, round(d, 3))) for level, d in steps)
    )


def ranks(zones: Sequence[Zone]) -> dict[int, int]:
    """Each zone's rank among the rows present, 0 at the top."""
    rows = sorted({z.row for z in zones})
    return {z.index: rows.index(z.row) for z in zones}


def _has_both_sides(zones: Sequence[Zone]) -> bool:
    sides = {z.side for z in zones}
    return Side.LEFT in sides and Side.RIGHT in sides


# --------------------------------------------------------------------------
# The techniques
# --------------------------------------------------------------------------


class Technique(abc.ABC):
    """A massage technique: its parameters, defaults, timing rules and generator."""

    name: ClassVar[str]
    summary: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    #: default peak level (fraction of the device's range) and its source
    level: ClassVar[float]
    level_source: ClassVar[str]
    #: parameters that set the natural length of one cycle (repetition)
    cycle_params: ClassVar[tuple[str, ...]] = ()
    cycle_noun: ClassVar[str] = "repetition"
    cycle_range: ClassVar[tuple[float, float]] = (0.5, 1200.0)
    default_repetitions: ClassVar[int | None] = None
    default_duration_s: ClassVar[float | None] = None
    timing_source: ClassVar[str] = ""
    #: whether it may play on front-of-neck zones (gentle stroking only)
    gentle: ClassVar[bool] = False
    #: the row it works when a step names no zones, if the device has that row
    preferred_row: ClassVar[Row | None] = None
    #: whether repetitions mean anything (a rest has none)
    repeats: ClassVar[bool] = True

    def defaults(self) -> dict[str, ParamValue]:
        """Every parameter with its default value."""
        return {p.name: p.default for p in self.params if p.default is not None}

    def natural_cycle_s(self, params: Mapping[str, ParamValue]) -> float:
        """The length of one cycle from the parameters alone."""
        total = 0.0
        for name in self.cycle_params:
            value = params[name]
            assert isinstance(value, int | float)
            total += float(value)
        return total

    def envelope(self, ctx: StepContext) -> Envelope:
        """The step's envelopes: :meth:`generate`, faded at the edges, gentle where needed."""
        raw = self.generate(ctx)
        zones: dict[int, ZoneEnvelope] = {}
        for zone in ctx.zones:
            env = raw.zones.get(zone.index)
            if env is None:
                continue
            contour = _fade(env.contour, ctx.duration_s)
            peak = contour.peak
            if zone.gentle_only and peak > GENTLE_LEVEL:
                factor = GENTLE_LEVEL / peak
                contour = Contour(contour.times, tuple(v * factor for v in contour.levels))
            zones[zone.index] = ZoneEnvelope(contour, env.carrier)
        return Envelope(ctx.duration_s, zones, raw.notes)

    @abc.abstractmethod
    def generate(self, ctx: StepContext) -> Envelope:
        """The raw envelopes (before fades and gentle limits)."""


class Stroking(Technique):
    """Light, slow sweeps that travel down the zones (opens and closes every session)."""

    name = "stroking"
    summary = "light sweeps travelling top to bottom; opens and closes every session"
    level = 0.35
    level_source = '"intensity is gentle"; the front of the neck takes gentle stroking only'
    params = (
        Param(
            "sweep_s",
            "number",
            "seconds for one sweep from the top row to the bottom row",
            default=15.0,
            minimum=3.0,
            maximum=40.0,
            source="6 sweeps of 15 s (5-7 repetitions) fit the warm-up's 2 minutes",
        ),
        Param(
            "hands",
            "string",
            "'both' sweeps both sides together; 'alternate' alternates left and right",
            default="both",
            choices=("both", "alternate"),
            source='"with both hands", or "with one hand, alternating the sides of the neck"',
        ),
    )
    cycle_params = ("sweep_s",)
    cycle_noun = "sweep"
    cycle_range = (3.0, 40.0)
    default_repetitions = 6
    timing_source = "5-7 repetitions; warm-up at most 2 minutes"
    gentle = True

    def generate(self, ctx: StepContext) -> Envelope:
        notes: list[str] = []
        rank = ranks(ctx.zones)
        n = max(rank.values()) + 1
        if n == 1:
            notes.append(
                "stroking: the zones sit in one row, so each top-to-bottom sweep "
                "becomes a slow swell of all zones together"
            )
        alternate = ctx.text("hands") == "alternate"
        if alternate and not _has_both_sides(ctx.zones):
            notes.append("stroking: no left and right zones, so the hands do not alternate")
            alternate = False
        sweep = ctx.cycle_s
        width = 2 * sweep / (n + 1)
        zones: dict[int, ZoneEnvelope] = {}
        for zone in ctx.zones:
            path = _Path()
            r = rank[zone.index]
            for k in range(ctx.cycles):
                turn = Side.LEFT if k % 2 == 0 else Side.RIGHT
                if alternate and zone.side not in (Side.CENTRE, turn):
                    continue
                _bump(path, k * sweep + r * sweep / (n + 1), width, ctx.level)
            zones[zone.index] = ZoneEnvelope(path.contour(ctx.duration_s))
        return Envelope(ctx.duration_s, zones, tuple(notes))


def _visits(n: int, direction: str) -> list[int]:
    """Ranks in the order a travelling movement visits them (0 is the top row)."""
    down = list(range(n))
    up = down[::-1]
    if direction == "down":
        return down
    if direction == "up":
        return up
    return up + down[1:-1] if n > 1 else down  # up, then down, without repeating the ends


class Squeezing(Technique):
    """Medium pressing pulses travelling along the rows of zones."""

    name = "squeezing"
    summary = "medium pressing pulses that travel along the zones"
    level = 0.6
    level_source = 'medium pressure: "do not overdo it"'
    params = (
        Param(
            "pass_s",
            "number",
            "seconds for one pass of pressing pulses along the rows",
            default=8.0,
            minimum=3.0,
            maximum=40.0,
            source="chosen: a press of about 2-4 s per row (the article gives no time)",
        ),
        Param(
            "direction",
            "string",
            "'down' from the hairline to the shoulders, 'up' the other way, "
            "'up-down' bottom to top then back down",
            default="down",
            choices=("down", "up", "up-down"),
            source='"repeated 5 times from the top down"',
        ),
    )
    cycle_params = ("pass_s",)
    cycle_noun = "pass"
    cycle_range = (3.0, 40.0)
    default_repetitions = 5
    timing_source = '"the movements are repeated 5 times from the top down"'

    def generate(self, ctx: StepContext) -> Envelope:
        notes: list[str] = []
        rank = ranks(ctx.zones)
        n = max(rank.values()) + 1
        if n == 1:
            notes.append(
                "squeezing: the zones sit in one row, so the pulses cannot travel; "
                "each pass is one press of all zones"
            )
        order = _visits(n, ctx.text("direction"))
        slot = ctx.cycle_s / len(order)
        paths = {z.index: _Path() for z in ctx.zones}
        for k in range(ctx.cycles):
            for j, r in enumerate(order):
                start = k * ctx.cycle_s + j * slot
                for zone in ctx.zones:
                    if rank[zone.index] == r:
                        _plateau(paths[zone.index], start, start + slot, ctx.level, slot / 4)
        return Envelope(
            ctx.duration_s,
            {i: ZoneEnvelope(p.contour(ctx.duration_s)) for i, p in paths.items()},
            tuple(notes),
        )


#: Fraction of the contour the rubbing circles never drop below (they keep contact).
RUB_FLOOR = 0.3
_RUB_STEPS = 8  # loop steps per circle: fine enough for a smooth swell, small for a device


def _rub_loop(variant: str, rate_hz: float) -> tuple[Pattern, Waveform]:
    period = 1.0 / rate_hz
    if variant == "comb":  # knuckles: short teeth
        return _loop([(1.0, 0.35 * period), (RUB_FLOOR, 0.65 * period)]), Waveform.PULSE
    steps = []
    for k in range(_RUB_STEPS):
        u = (k + 0.5) / _RUB_STEPS
        if variant in ("straight", "sawing"):
            shape = 1 - abs(2 * u - 1)  # linear strokes there and back
        else:
            shape = (1 - math.cos(2 * math.pi * u)) / 2  # circles and arcs: smooth
        steps.append((RUB_FLOOR + (1 - RUB_FLOOR) * shape, period / _RUB_STEPS))
    return _loop(steps), Waveform.WAVE


class Rubbing(Technique):
    """Energetic ~1 Hz circles (or strokes), the two sides out of phase, passing down the rows."""

    name = "rubbing"
    summary = "energetic ~1 Hz circles, left and right out of phase, passing down the neck"
    level = 0.65
    level_source = "energetic, but not the strongest technique (chosen: 65 %)"
    params = (
        Param(
            "variant",
            "string",
            "circular: sides out of phase; straight: sides together; arched: rows in turn; "
            "comb: short knuckle teeth; sawing: palm edges there and back, sides opposed",
            default="circular",
            choices=("circular", "straight", "arched", "comb", "sawing"),
            source='"arched, rectilinear, circular, comb-like"; "sawing" with the palm edges',
        ),
        Param(
            "rate_hz",
            "number",
            "circles (or strokes) per second",
            default=1.0,
            minimum=0.5,
            maximum=3.0,
            source="chosen: about one energetic circle a second (the article gives no rate)",
        ),
        Param(
            "pass_s",
            "number",
            "seconds for one pass from the top row to the bottom row",
            default=30.0,
            minimum=5.0,
            maximum=90.0,
            source='4 passes of 30 s: "3-4 times, completely passing from the head to the neck"',
        ),
    )
    cycle_params = ("pass_s",)
    cycle_noun = "pass"
    cycle_range = (5.0, 90.0)
    default_repetitions = 4
    timing_source = '"energetic movements 3-4 repetitions"'

    def generate(self, ctx: StepContext) -> Envelope:
        notes: list[str] = []
        variant = ctx.text("variant")
        rate = ctx.number("rate_hz")
        pattern, native = _rub_loop(variant, rate)
        rank = ranks(ctx.zones)
        n = max(rank.values()) + 1
        opposed = variant in ("circular", "comb", "sawing")
        if opposed and not _has_both_sides(ctx.zones):
            notes.append(
                f"rubbing ({variant}): no left and right zones to run out of phase, "
                f"so the {rate:g} Hz movement becomes a swell of all zones together"
            )
        if variant == "arched" and n == 1:
            notes.append("rubbing (arched): the zones sit in one row, so the arcs cannot travel")
        zones: dict[int, ZoneEnvelope] = {}
        for zone in ctx.zones:
            r = rank[zone.index]
            phase = 0.0
            if opposed:
                phase = {Side.LEFT: 0.0, Side.RIGHT: 0.5, Side.CENTRE: 0.25}[zone.side]
                if not _has_both_sides(ctx.zones):
                    phase = 0.0
            elif variant == "arched":
                phase = (r * 0.25) % 1.0
            # The pass: the row being worked is at full level, the others at half.
            path = _Path()
            slot = ctx.cycle_s / n
            for k in range(ctx.cycles):
                for j in range(n):
                    t = k * ctx.cycle_s + (j + 0.5) * slot
                    path.add(t, ctx.level if j == r else ctx.level / 2)
            carrier = Carrier(pattern, phase, native)
            zones[zone.index] = ZoneEnvelope(path.contour(ctx.duration_s), carrier)
        return Envelope(ctx.duration_s, zones, tuple(notes))


class Kneading(Technique):
    """The strongest technique: slow deep swells over the trapezius, sides in turn."""

    name = "kneading"
    summary = "slow, deep swells of a few seconds over the shoulders, left and right in turn"
    level = 0.85
    level_source = '"the strongest method"; "if it hurts, weaken the pressure"'
    params = (
        Param(
            "swell_s",
            "number",
            "seconds for one swell (grasp, hold, release)",
            default=4.0,
            minimum=2.0,
            maximum=12.0,
            source='"movements are made slowly"; a swell of a few seconds',
        ),
        Param(
            "alternate",
            "boolean",
            "swell the left and right sides in turn",
            default=True,
            source='"the right hand kneads the left side, and then vice versa"',
        ),
    )
    cycle_params = ("swell_s",)
    cycle_noun = "swell"
    cycle_range = (2.0, 12.0)
    default_duration_s = 210.0
    timing_source = '"it takes 3-4 minutes"'
    preferred_row = Row.SHOULDERS

    #: fraction of the peak held between swells (the grasp does not let go)
    floor = 0.3

    def generate(self, ctx: StepContext) -> Envelope:
        notes: list[str] = []
        alternate = bool(ctx.params["alternate"])
        if alternate and not _has_both_sides(ctx.zones):
            notes.append("kneading: no left and right zones, so all zones swell together")
            alternate = False
        swell = ctx.cycle_s
        low = ctx.level * self.floor
        zones: dict[int, ZoneEnvelope] = {}
        for zone in ctx.zones:
            path = _Path()
            path.add(0.0, low)
            for k in range(ctx.cycles):
                turn = Side.LEFT if k % 2 == 0 else Side.RIGHT
                if alternate and zone.side not in (Side.CENTRE, turn):
                    continue
                start = k * swell
                path.add(start, low)
                path.add(start + 0.4 * swell, ctx.level)
                path.add(start + 0.6 * swell, ctx.level)
                path.add(start + swell, low)
            zones[zone.index] = ZoneEnvelope(path.contour(ctx.duration_s))
        return Envelope(ctx.duration_s, zones, tuple(notes))


#: Longest loop a technique builds for a device to repeat (every NMP/1 model takes 16).
MAX_LOOP_STEPS = 16


class Vibration(Technique):
    """Bursts of quick light pats (patting) or staggered finger taps (tapping)."""

    name = "vibration"
    summary = "bursts of quick light pats, several per second"
    level = 0.5
    level_source = '"small pats, quickly and gently": light to medium'
    params = (
        Param(
            "variant",
            "string",
            "patting: cupped palms, the sides in turn burst by burst; "
            "tapping: the zones staggered like fingers on a keyboard",
            default="patting",
            choices=("patting", "tapping"),
            source='palm "in the form of a boat"; taps "like typing on a keyboard"',
        ),
        Param(
            "rate_hz",
            "number",
            "pats per second within a burst",
            default=5.0,
            minimum=2.0,
            maximum=10.0,
            source='several pats a second: "quickly and gently" (the article gives no rate)',
        ),
        Param(
            "burst_s",
            "number",
            "seconds for one burst of pats and the pause after it (half of it)",
            default=2.0,
            minimum=1.0,
            maximum=10.0,
            source="chosen: a 1 s burst and a 1 s pause fit one 16-step device loop",
        ),
    )
    cycle_params = ("burst_s",)
    cycle_noun = "burst"
    cycle_range = (1.0, 10.0)
    default_duration_s = 180.0
    timing_source = '"we perform the same: 3-4 minutes"'

    def generate(self, ctx: StepContext) -> Envelope:
        notes: list[str] = []
        tapping = ctx.text("variant") == "tapping"
        rate = ctx.number("rate_hz")
        period = 1.0 / rate
        duty = 0.3 if tapping else 0.4
        cycle = ctx.cycle_s
        pats = max(1, round(rate * cycle / 2))
        alternate = not tapping and _has_both_sides(ctx.zones)
        if not tapping and not alternate and len(ctx.zones) > 1:
            notes.append("vibration: no left and right zones, so every burst pats all zones")
        if tapping and len(ctx.zones) == 1:
            notes.append("vibration (tapping): one zone, so the taps cannot be staggered")
        ordered = sorted(ctx.zones, key=lambda z: (z.row, z.side, z.index))
        # One burst and its pause as one loop, if a device can hold it: the
        # device then plays whole bursts on its own clock, steady for the step.
        burst_loop = [(1.0, duty * period), (0.0, (1 - duty) * period)] * pats
        burst_loop[-1] = (0.0, cycle - (pats - 1) * period - duty * period)
        whole = len(burst_loop) <= MAX_LOOP_STEPS
        pattern = _loop(burst_loop if whole else burst_loop[:2])
        zones: dict[int, ZoneEnvelope] = {}
        for i, zone in enumerate(ordered):
            path = _Path()
            right = alternate and zone.side == Side.RIGHT
            stagger = (i / len(ordered)) * period if tapping else 0.0
            if whole:
                # The right side is half a loop behind: it pats while the left pauses.
                phase = 0.5 if right else stagger / cycle
                path.add(0.0, ctx.level)
            else:
                phase = stagger / period
                for k in range(ctx.cycles):
                    turn = Side.LEFT if k % 2 == 0 else Side.RIGHT
                    if alternate and zone.side not in (Side.CENTRE, turn):
                        continue
                    start = k * cycle
                    _plateau(path, start, start + cycle / 2, ctx.level, 0.1)
            carrier = Carrier(pattern, phase % 1.0, Waveform.PULSE)
            zones[zone.index] = ZoneEnvelope(path.contour(ctx.duration_s), carrier)
        return Envelope(ctx.duration_s, zones, tuple(notes))


class Pinching(Technique):
    """Short sharp pulses that travel up the rows, then down."""

    name = "pinching"
    summary = "short sharp pulses travelling up the neck, then down"
    level = 0.55
    level_source = '"I begin to move lightly" (chosen: 55 %)'
    params = (
        Param(
            "rate_hz",
            "number",
            "pinches per second",
            default=3.0,
            minimum=1.0,
            maximum=8.0,
            source="chosen: short sharp pinches, a few a second",
        ),
        Param(
            "pass_s",
            "number",
            "seconds for one travel (up then down, or one way)",
            default=8.0,
            minimum=2.0,
            maximum=40.0,
            source="chosen: one travel up and down in a few seconds",
        ),
        Param(
            "direction",
            "string",
            "'up-down' bottom to top then back, 'up' or 'down' only",
            default="up-down",
            choices=("up-down", "up", "down"),
            source='"from bottom to top, then vice versa"; one section: "moving strictly down"',
        ),
    )
    cycle_params = ("pass_s",)
    cycle_noun = "pass"
    cycle_range = (2.0, 40.0)
    default_duration_s = 180.0
    timing_source = '"it takes 3-4 minutes"'

    def generate(self, ctx: StepContext) -> Envelope:
        notes: list[str] = []
        period = 1.0 / ctx.number("rate_hz")
        pattern = _loop([(1.0, 0.3 * period), (0.0, 0.7 * period)])
        rank = ranks(ctx.zones)
        n = max(rank.values()) + 1
        if n == 1:
            notes.append(
                "pinching: the zones sit in one row, so the pulses cannot travel up and down"
            )
        order = _visits(n, ctx.text("direction"))
        slot = ctx.cycle_s / len(order)
        zones: dict[int, ZoneEnvelope] = {}
        for zone in ctx.zones:
            path = _Path()
            r = rank[zone.index]
            for k in range(ctx.cycles):
                for j, visited in enumerate(order):
                    if visited == r:
                        start = k * ctx.cycle_s + j * slot
                        _plateau(path, start, start + slot, ctx.level, 0.1)
            carrier = Carrier(pattern, 0.0, Waveform.PULSE)
            zones[zone.index] = ZoneEnvelope(path.contour(ctx.duration_s), carrier)
        return Envelope(ctx.duration_s, zones, tuple(notes))


class Acupressure(Technique):
    """Hold-and-release presses of a few seconds, one point after another."""

    name = "acupressure"
    summary = "presses of at most 4-5 s with rests, about 15 of them"
    level = 0.75
    level_source = "chosen: firm (75 %); movements must never cause pain"
    params = (
        Param(
            "press_s",
            "number",
            "seconds one press lasts (including its soft start and release)",
            default=4.5,
            minimum=1.0,
            maximum=5.0,
            source='"the pressure on each point lasts no more than 4-5 seconds"',
        ),
        Param(
            "rest_s",
            "number",
            "seconds of rest after each press",
            default=3.0,
            minimum=1.0,
            maximum=30.0,
            source="chosen: a release between presses; 15 presses take under 2 minutes",
        ),
        Param(
            "points",
            "string",
            "'rotate' presses one zone after another; 'together' presses all zones at once",
            default="rotate",
            choices=("rotate", "together"),
            source='"press one point", then the next',
        ),
    )
    cycle_params = ("press_s", "rest_s")
    cycle_noun = "press"
    cycle_range = (2.0, 40.0)
    default_repetitions = 15
    timing_source = '"the number of clicks should be about 15"'

    def generate(self, ctx: StepContext) -> Envelope:
        notes: list[str] = []
        press_s = ctx.number("press_s")
        rest_s = ctx.number("rest_s")
        # A longer cycle lengthens the rest, never the press (4-5 s at most).
        press = min(press_s, ctx.cycle_s * press_s / (press_s + rest_s))
        rotate = ctx.text("points") == "rotate"
        ordered = sorted(ctx.zones, key=lambda z: z.index)
        if rotate and len(ordered) == 1:
            notes.append("acupressure: one zone, so every press is on the same point")
        paths = {z.index: _Path() for z in ordered}
        for k in range(ctx.cycles):
            start = k * ctx.cycle_s
            targets = [ordered[k % len(ordered)]] if rotate else ordered
            for zone in targets:
                _plateau(paths[zone.index], start, start + press, ctx.level, 0.5)
        return Envelope(
            ctx.duration_s,
            {i: ZoneEnvelope(p.contour(ctx.duration_s)) for i, p in paths.items()},
            tuple(notes),
        )


class Rest(Technique):
    """Motors off (heat, if set, stays on): a pause between stages, or a pre-warm."""

    name = "rest"
    summary = "motors off; heat, if set, stays on"
    level = 0.0
    level_source = "no movement"
    default_duration_s = 30.0
    timing_source = "as long as the step says"
    repeats = False
    gentle = True

    def natural_cycle_s(self, params: Mapping[str, ParamValue]) -> float:
        return 1200.0

    def generate(self, ctx: StepContext) -> Envelope:
        return Envelope(ctx.duration_s, {})


TECHNIQUES: dict[str, Technique] = {
    t.name: t
    for t in (
        Stroking(),
        Squeezing(),
        Rubbing(),
        Kneading(),
        Vibration(),
        Pinching(),
        Acupressure(),
        Rest(),
    )
}
#: Other names the article uses for the same techniques.
ALIASES: dict[str, str] = {"trituration": "rubbing", "tweaking": "pinching"}


def technique(name: str) -> Technique:
    """A technique by name or alias; ``KeyError`` for an unknown name."""
    return TECHNIQUES[ALIASES.get(name, name)]
