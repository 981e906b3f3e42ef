"""The infrared heater: the pad's physics, its sensor, and the firmware's control.

The pad is a first-order thermal system: at heater duty ``d`` it settles toward
``ambient + d * max_rise`` with time constant ``tau``. Between control ticks
the duty is constant, so the temperature is updated exactly (an exponential),
however long the step; the firmware's own observer uses the same function.

The controller is a PI loop with feed-forward, and a governor: whatever the
PI asks, the duty is capped so that the model predicts no more than
``limit - CEILING_MARGIN_C`` one horizon ahead, starting from the higher of
the sensed and the predicted temperature. A sensor that reads far below the
prediction, or outside a plausible range, is a fault; a reading at the
cut-off trips the over-temperature cut-off, which disconnects the heater
whatever the driver does.
"""

from __future__ import annotations

import math

from massager_simulator.model import HeatSpec

#: The controller never aims above ``limit - CEILING_MARGIN_C``.
CEILING_MARGIN_C = 1.0
#: The over-temperature cut-off trips at ``limit - CUTOFF_MARGIN_C`` (sensed).
CUTOFF_MARGIN_C = 0.5
#: An over-temperature latch clears once the pad has cooled this far below the limit.
OVERHEAT_CLEAR_C = 5.0
#: A reading this far below the firmware's thermal model means the sensor is lying.
DIVERGENCE_C = 3.0
#: Plausible sensor readings; anything outside is an open or shorted sensor.
SENSOR_RANGE_C = (-20.0, 100.0)
#: Readings of a failed NTC sensor.
OPEN_READING_C = -55.0
SHORT_READING_C = 150.0
#: A live sensor's reading always wanders a little; one that has not changed
#: at all for this long is stuck.
STUCK_AFTER_S = 30.0
#: Peak noise of a healthy sensor reading (an NTC on a 12-bit ADC).
SENSOR_NOISE_C = 0.15
#: How far ahead the governor looks (longer than a control tick, for margin).
GOVERNOR_HORIZON_S = 1.0

KP = 0.4  # duty per degree of error
KI = 0.02  # duty per degree-second
I_LIMIT = 0.3
INTEGRATE_WITHIN_C = 1.0


def sensor_noise(now: float, seed: int) -> float:
    """A healthy sensor's noise at ``now``: deterministic in time and seed, in
    +-SENSOR_NOISE_C (a hash of the millisecond, not a stateful generator, so
    reading the sensor more often does not change what it reads)."""
    x = (int(now * 1000.0) * 2654435761 + seed * 40503 + 12345) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 2246822519) & 0xFFFFFFFF
    x ^= x >> 13
    return (x / 0xFFFFFFFF * 2.0 - 1.0) * SENSOR_NOISE_C


def settle(temp: float, spec: HeatSpec, duty: float, dt: float) -> float:
    """Temperature after ``dt`` seconds at constant ``duty`` (exact for a first-order pad)."""
    final = spec.ambient_c + duty * spec.max_rise_c
    return final + (temp - final) * math.exp(-dt / spec.time_constant_s)


class HeaterControl:
    """The firmware's closed loop for one heater."""

    __slots__ = (
        "_integral", "_last_reading", "_reading_since", "ceiling_c", "cutoff_c", "duty",
        "predicted", "spec", "target_c",
    )  # fmt: skip

    def __init__(self, spec: HeatSpec, start_c: float) -> None:
        self.spec = spec
        self.target_c = 0.0  #: 0 = off
        self.duty = 0.0  #: what the firmware drives the heater with, 0..1
        self._integral = 0.0
        #: The firmware's model of the pad temperature, from the duty it applied.
        self.predicted = start_c
        self.ceiling_c = spec.limit_c - CEILING_MARGIN_C
        self.cutoff_c = spec.limit_c - CUTOFF_MARGIN_C
        self._last_reading = float("nan")
        self._reading_since = 0.0

    def off(self) -> None:
        """Heater off, controller reset."""
        self.target_c = 0.0
        self.duty = 0.0
        self._integral = 0.0

    def advance(self, dt: float) -> None:
        """Advance the firmware's thermal model by ``dt`` at the applied duty."""
        self.predicted = settle(self.predicted, self.spec, self.duty, dt)

    def plausible(self, sensed: float, now: float) -> bool:
        """Whether a reading is in range, not far below what the model predicts,
        and not frozen."""
        if sensed != self._last_reading:
            self._last_reading = sensed
            self._reading_since = now
        low, high = SENSOR_RANGE_C
        return (
            low <= sensed <= high
            and sensed >= self.predicted - DIVERGENCE_C
            and now - self._reading_since < STUCK_AFTER_S
        )

    def trust(self, sensed: float, now: float) -> None:
        """Start over with a repaired sensor."""
        self.predicted = sensed
        self._last_reading = sensed
        self._reading_since = now

    def control(self, sensed: float, dt: float) -> None:
        """One control step from a plausible reading: set ``duty``."""
        spec = self.spec
        # Trust the higher of reading and model: a hot pad is never under-estimated.
        if sensed > self.predicted:
            self.predicted = sensed
        estimate = self.predicted
        if self.target_c <= 0.0:
            self.duty = 0.0
            return
        goal = min(self.target_c, self.ceiling_c)
        error = goal - sensed
        if abs(error) < INTEGRATE_WITHIN_C:
            # Integrate only near the goal, so the warm-up does not wind it up.
            self._integral = max(-I_LIMIT, min(I_LIMIT, self._integral + KI * error * dt))
        feed_forward = (goal - spec.ambient_c) / spec.max_rise_c
        duty = feed_forward + KP * error + self._integral
        # Governor: the largest duty whose predicted temperature one horizon
        # ahead stays at or below the ceiling.
        decay = math.exp(-GOVERNOR_HORIZON_S / spec.time_constant_s)
        headroom = self.ceiling_c - spec.ambient_c - (estimate - spec.ambient_c) * decay
        cap = headroom / (spec.max_rise_c * (1.0 - decay))
        self.duty = max(0.0, min(1.0, duty, cap))
