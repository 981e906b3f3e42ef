"""Intensity: the device's steps, the intensity ceiling, gentle zones and the soft ramp."""

from __future__ import annotations

import math

from massager_sdk.safety.limits import Limit
from massager_sdk.safety.rules.base import (
    TIME_EPS,
    Cap,
    PolicyState,
    Rule,
    floor,
    fraction_level,
)

#: The first level a zone may take when it starts from off (soft start).
SOFT_START_LEVEL = 1


class IntensityCaps(Rule):
    """Ceilings on each zone's level, and how fast a level may rise."""

    def __init__(self, state: PolicyState) -> None:
        super().__init__(state)
        caps, limits = state.caps, state.limits
        if caps.intensity_steps < 1:
            raise ValueError(f"{caps.model}: intensity_steps must be at least 1")
        steps = caps.intensity_steps
        #: Seconds between the steps of a rising level (never faster than the link).
        self.ramp_interval_s = max(limits.ramp_interval_s, caps.min_gap_s, limits.ramp_s / steps)
        #: The most a level may rise in one step (after the soft start).
        self.ramp_step = max(1, floor(steps * self.ramp_interval_s / limits.ramp_s))
        self._last_rise = [-math.inf] * len(caps.zones)

    def level_caps(self, zone: int) -> list[Cap]:
        """The device's steps, ``max_fraction`` and, over the front of the neck, the gentle one."""
        caps, limits = self.state.caps, self.state.limits
        steps = caps.intensity_steps
        out = [
            Cap(Limit.DEVICE_STEPS, steps, f"{caps.model} has levels 0..{steps}"),
            Cap(
                Limit.INTENSITY_MAX,
                fraction_level(steps, limits.max_fraction),
                f"max_fraction={limits.max_fraction}",
            ),
        ]
        if caps.zones[zone].gentle_only and caps.electrical:
            # Current over the carotid sinus can slow the heart and close the airway.
            out.append(
                Cap(
                    Limit.FRONT_NECK_ELECTRICAL,
                    0,
                    f"zone {caps.zones[zone].name!r} is over the front of the neck, where "
                    "electrical stimulation is never applied",
                )
            )
        elif caps.zones[zone].gentle_only:
            out.append(
                Cap(
                    Limit.FRONT_NECK_GENTLE,
                    fraction_level(steps, limits.gentle_fraction),
                    f"zone {caps.zones[zone].name!r} is over the front of the neck",
                )
            )
        return out

    def ceiling(self, base: int) -> int:
        """The highest level one ramp step may reach from ``base``."""
        return SOFT_START_LEVEL if base == 0 else base + self.ramp_step

    def may_rise(self, zone: int, now: float) -> bool:
        """Whether ``zone`` may take its next ramp step at ``now``."""
        return now - self._last_rise[zone] >= self.ramp_interval_s - TIME_EPS

    def rise_problem(self, zone: int, old: int, new: int, now: float) -> str | None:
        """What is wrong with a rise the device was told (``None``: within the ramp)."""
        if not self.may_rise(zone, now):
            return (
                f"zone {zone} rose again {now - self._last_rise[zone]:.3f} s after "
                f"its last rise; the ramp allows one rise every {self.ramp_interval_s} s"
            )
        if new > self.ceiling(old):
            return (
                f"zone {zone} jumped {old} -> {new}; the ramp allows {old} -> {self.ceiling(old)}"
            )
        return None

    def rose(self, zone: int, now: float) -> None:
        """Record that ``zone``'s level rose at ``now``."""
        self._last_rise[zone] = now
