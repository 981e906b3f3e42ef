"""The firmware's outputs: one motor a zone, and the uploaded pattern slots.

:class:`Outputs` carries out SET_OUTPUT and UPLOAD_PATTERN: it checks a
command whole and changes nothing when it refuses it. How a motor follows its
command (soft start, waveforms, patterns) is :mod:`.motors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from massager_protocols.nmp import Fault, NackCode, SetOutput, UploadPattern, Waveform

from massager_simulator.motors import Motor, Pattern

if TYPE_CHECKING:
    from massager_simulator.device import SimulatedDevice


class Outputs:
    """The zones' motors and the pattern slots of a :class:`SimulatedDevice`."""

    def __init__(self, device: SimulatedDevice) -> None:
        self.device = device
        model = device.model
        #: One motor a zone, in zone order.
        self.motors = [Motor(model.intensity_steps, model.ramp_ms) for _ in model.zones]
        #: The uploaded patterns, by slot.
        self.patterns: dict[int, Pattern] = {}

    @property
    def on(self) -> bool:
        """Whether any motor is commanded on."""
        return any(m.target for m in self.motors)

    @property
    def commanded(self) -> tuple[int, ...]:
        """Each zone's commanded intensity."""
        return tuple(m.target for m in self.motors)

    def levels(self, now: float) -> tuple[float, ...]:
        """Each zone's actual output at ``now`` (ramps, waveforms)."""
        return tuple(m.level(now) for m in self.motors)

    def load(self, now: float) -> float:
        """The motors' load at ``now``, in full-power motor equivalents."""
        return sum(m.load(now) for m in self.motors)

    def settled_at(self, now: float) -> float:
        """When every motor has reached its commanded level (``now`` if all have)."""
        return max((m.settled_at(now) for m in self.motors), default=now)

    def stop(self) -> None:
        """Every motor off at once."""
        for motor in self.motors:
            motor.stop()

    # Each command checks everything first and changes state only when it
    # accepts: it returns 0 (ACK) or the NackCode.

    def set_output(self, m: SetOutput, now: float) -> int:
        """SET_OUTPUT."""
        device = self.device
        model = device.model
        if m.zone_mask == 0 or m.zone_mask >> len(model.zones):
            return NackCode.OUT_OF_RANGE
        if m.intensity > model.intensity_steps:
            return NackCode.OUT_OF_RANGE
        try:
            waveform = Waveform(m.waveform)
        except ValueError:
            return NackCode.OUT_OF_RANGE
        pattern: Pattern | None = None
        pattern_id = period_ms = 0
        if waveform == Waveform.PATTERN:
            pattern = self.patterns.get(m.pattern_id)
            if pattern is None:
                return NackCode.OUT_OF_RANGE
            pattern_id, period_ms = m.pattern_id, m.period_ms
        elif waveform != Waveform.CONSTANT:
            if m.period_ms == 0 and m.intensity:
                return NackCode.OUT_OF_RANGE
            period_ms = m.period_ms
        if m.intensity and device.supervisor.flags & Fault.BATTERY_CRITICAL:
            return NackCode.LOW_BATTERY
        for index, motor in enumerate(self.motors):
            if m.zone_mask >> index & 1:
                motor.command(now, m.intensity, waveform, pattern_id, pattern, period_ms)
        device.supervisor.accepted(now, switched_on=m.intensity > 0)
        return 0

    def upload_pattern(self, m: UploadPattern, now: float) -> int:
        """UPLOAD_PATTERN; a zone playing that slot plays the new pattern."""
        model = self.device.model
        if m.pattern_id >= model.pattern_slots:
            return NackCode.OUT_OF_RANGE
        if not 1 <= len(m.steps) <= model.pattern_max_steps:
            return NackCode.OUT_OF_RANGE
        if any(s.level_pct > 100 or s.duration_ms == 0 for s in m.steps):
            return NackCode.OUT_OF_RANGE
        pattern = Pattern(m.steps)
        self.patterns[m.pattern_id] = pattern
        for motor in self.motors:
            if motor.waveform == Waveform.PATTERN and motor.pattern_id == m.pattern_id:
                motor.pattern = pattern
        return 0
