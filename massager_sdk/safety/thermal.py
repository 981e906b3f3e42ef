"""Thermal dose: how close long contact with a warm part comes to a burn.

Moritz and Henriques measured that skin held at 44 C burns after about 6 hours,
and that each degree more, up to about 51 C, roughly halves the time (about 50 C
burns within minutes). That is the shape of the CEM43 dose used in hyperthermia
(equivalent minutes at a reference temperature, a factor ``R`` per degree); here
the reference is their 44 C, so the burn threshold is 360 equivalent minutes:

- at or above 44 C one minute counts ``2 ** (T - 44)`` equivalent minutes;
- below 44 C, where the measurements give no burn at all, the dose keeps falling
  by CEM43's customary factor of 4 per degree, so that warm but harmless
  temperatures still count a little instead of nothing.

Pure arithmetic: no clock, no I/O.
"""

from __future__ import annotations

import math

#: Reference temperature of the dose (C): the lowest that burned in the measurements.
REFERENCE_C = 44.0
#: Contact time at :data:`REFERENCE_C` that burns, in minutes (about 6 hours).
BURN_MINUTES = 360.0
#: Above this the measured halving per degree is no longer given; the same rate is
#: kept (the real curve is steeper there, but nothing the policy allows comes close).
_HIGHEST_C = 90.0


def dose_rate(temp_c: float) -> float:
    """Equivalent minutes at 44 C that one minute at ``temp_c`` adds."""
    t = min(temp_c, _HIGHEST_C)
    if t >= REFERENCE_C:
        return float(2.0 ** (t - REFERENCE_C))
    return float(0.25 ** (REFERENCE_C - t))


def minutes_to_burn(temp_c: float) -> float:
    """Minutes of contact at ``temp_c`` that reach the burn threshold."""
    return BURN_MINUTES / dose_rate(temp_c)


class ThermalDose:
    """A running dose in equivalent minutes at 44 C, with decay while the heater is off."""

    __slots__ = ("half_life_s", "minutes")

    def __init__(self, half_life_s: float) -> None:
        self.half_life_s = half_life_s
        self.minutes = 0.0

    @property
    def fraction(self) -> float:
        """The dose as a fraction of the burn threshold."""
        return self.minutes / BURN_MINUTES

    def advance(self, dt_s: float, temp_c: float | None) -> None:
        """Account for ``dt_s`` seconds at ``temp_c``, or of cooling when it is ``None``."""
        if dt_s <= 0:
            return
        if temp_c is None:
            self.minutes *= 0.5 ** (dt_s / self.half_life_s)
        else:
            self.minutes += dose_rate(temp_c) * dt_s / 60.0

    def seconds_until(self, fraction: float, temp_c: float) -> float:
        """Seconds at ``temp_c`` until the dose reaches ``fraction`` of the burn threshold."""
        missing = fraction * BURN_MINUTES - self.minutes
        if missing <= 0:
            return 0.0
        return missing * 60.0 / dose_rate(temp_c)

    def seconds_to_decay(self, fraction: float) -> float:
        """Seconds of cooling until the dose falls to ``fraction`` of the burn threshold."""
        target = fraction * BURN_MINUTES
        if self.minutes <= target:
            return 0.0
        if target <= 0:
            return math.inf
        return self.half_life_s * math.log2(self.minutes / target)


def dose_table_markdown(stop_fraction: float, temps_c: tuple[float, ...] = ()) -> str:
    """Burn times and the policy's stop times as Markdown (``docs/safety.md`` embeds it)."""
    temps = temps_c or (40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 48.0, 50.0)
    rows = [
        "| contact at | dose per minute (equivalent minutes at 44 C) | time to a burn "
        f"| heat off at {stop_fraction:.0%} of it |",
        "|---|---|---|---|",
    ]
    for temp in temps:
        burn = minutes_to_burn(temp)
        rows.append(
            f"| {temp:g} C | {dose_rate(temp):.4g} | {_duration(burn)} "
            f"| {_duration(burn * stop_fraction)} |"
        )
    return "\n".join(rows) + "\n"


def _duration(minutes: float) -> str:
    if minutes >= 120:
        return f"{minutes / 60:.0f} h"
    if minutes >= 2:
        return f"{minutes:.0f} min"
    return f"{minutes * 60:.0f} s"
