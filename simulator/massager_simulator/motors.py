"""Vibration motors: soft-start ramps, waveforms and uploaded patterns.

A motor's output is computed from the time, not stepped: the envelope ramps
linearly from where it was toward the commanded intensity at a slew rate of
full scale per ``ramp_ms``, and the waveform (or pattern) scales it. So levels
are exact at any instant the firmware looks, with no per-tick work.
"""

from __future__ import annotations

import bisect
import math

from massager_protocols.nmp import PatternStep, Waveform


class Pattern:
    """An uploaded pattern, ready to play."""

    __slots__ = ("ends", "levels", "loop_ms", "mean")

    def __init__(self, steps: tuple[PatternStep, ...]) -> None:
        self.levels = tuple(s.level_pct / 100.0 for s in steps)
        ends, total = [], 0
        for step in steps:
            total += step.duration_ms
            ends.append(total)
        self.ends = tuple(ends)
        self.loop_ms = total
        #: Average fraction of the intensity over one loop (for battery drain).
        self.mean = sum(s.level_pct * s.duration_ms for s in steps) / (100.0 * total)

    def factor(self, position_ms: float) -> float:
        """The level fraction at ``position_ms`` into the (looping) pattern."""
        index = bisect.bisect_right(self.ends, position_ms % self.loop_ms)
        return self.levels[min(index, len(self.levels) - 1)]


class Motor:
    """One zone's motor."""

    __slots__ = (
        "_anchor",
        "_dur",
        "_from",
        "_ramp_s",
        "_steps",
        "_t0",
        "pattern",
        "pattern_id",
        "period_ms",
        "target",
        "waveform",
    )  # fmt: skip

    def __init__(self, steps: int, ramp_ms: int) -> None:
        self._steps = steps
        self._ramp_s = ramp_ms / 1000.0
        self.target = 0  #: commanded intensity
        self.waveform = Waveform.CONSTANT
        self.pattern_id = 0
        self.pattern: Pattern | None = None
        self.period_ms = 0
        self._anchor = 0.0  # time the waveform's cycle started
        self._from = 0.0  # envelope at the start of the current ramp
        self._t0 = 0.0
        self._dur = 0.0

    @property
    def on(self) -> bool:
        """Whether the motor is commanded to run."""
        return self.target > 0

    def envelope(self, now: float) -> float:
        """The ramped intensity (before the waveform), 0..steps."""
        if self._dur <= 0.0 or now >= self._t0 + self._dur:
            return float(self.target)
        frac = (now - self._t0) / self._dur
        return self._from + (self.target - self._from) * frac

    def factor(self, now: float) -> float:
        """The waveform's fraction of the envelope at ``now``, 0..1."""
        waveform = self.waveform
        if waveform == Waveform.CONSTANT:
            return 1.0
        elapsed_ms = (now - self._anchor) * 1000.0
        if waveform == Waveform.PATTERN:
            assert self.pattern is not None
            return self.pattern.factor(elapsed_ms + self.period_ms)
        phase = (elapsed_ms % self.period_ms) / self.period_ms
        if waveform == Waveform.PULSE:
            return 1.0 if phase < 0.5 else 0.0
        return (1.0 - math.cos(2.0 * math.pi * phase)) / 2.0

    def level(self, now: float) -> float:
        """The actual output, 0..steps."""
        if not self.target and self._dur <= 0.0:
            return 0.0
        return self.envelope(now) * self.factor(now)

    def load(self, now: float) -> float:
        """Average fraction of full power drawn now (for battery drain)."""
        if not self.target and (self._dur <= 0.0 or now >= self._t0 + self._dur):
            return 0.0
        waveform = self.waveform
        mean = (
            1.0
            if waveform == Waveform.CONSTANT
            else self.pattern.mean
            if waveform == Waveform.PATTERN and self.pattern is not None
            else 0.5
        )
        return self.envelope(now) / self._steps * mean

    def command(
        self,
        now: float,
        intensity: int,
        waveform: Waveform,
        pattern_id: int,
        pattern: Pattern | None,
        period_ms: int,
    ) -> None:
        """Apply a checked SET_OUTPUT to this motor."""
        same_cycle = (
            self.on
            and waveform == self.waveform
            and pattern_id == self.pattern_id
            and period_ms == self.period_ms
        )
        start = self.envelope(now)
        if not same_cycle:
            # A new waveform starts its cycle now; an intensity change alone keeps the phase.
            self._anchor = now
        self.waveform = waveform
        self.pattern_id = pattern_id
        self.pattern = pattern
        self.period_ms = period_ms
        self.target = intensity
        self._from = start
        self._t0 = now
        self._dur = self._ramp_s * abs(intensity - start) / self._steps

    def settled_at(self, now: float) -> float:
        """When the envelope reaches the commanded intensity (``now`` if it has)."""
        return max(now, self._t0 + self._dur) if self._dur > 0.0 else now

    def stop(self) -> None:
        """Stop at once (stop commands and safety stops do not ramp)."""
        self.target = 0
        self.waveform = Waveform.CONSTANT
        self.pattern_id = 0
        self.pattern = None
        self.period_ms = 0
        self._dur = 0.0
        self._from = 0.0
