"""A control request, and the outputs it asks for, checked whole before any part applies.

:func:`plan_outputs` is sans-I/O: given the request, the outputs the device
runs now, its capabilities and its safety policy, it says which levels go to
which zones and which heat target, or raises. Either every part of a request
passes the device's capabilities and the safety policy, or nothing is sent.

A request may also say how the zones it drives follow their level
(:class:`Shape`: a waveform, or a pattern looping on the device's clock); the
shape is checked with the rest.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.client import level_of, waveform_period
from massager_sdk.control.errors import ControlError
from massager_sdk.control.state import NO_PROGRAM, Outputs
from massager_sdk.model import Pattern, PatternStep, Waveform
from massager_sdk.safety import SafetyPolicy

#: The heat field's value for "heater off".
HEAT_OFF: Literal["off"] = "off"

Action = Literal["pause", "resume", "skip"]

__all__ = [
    "HEAT_OFF",
    "NO_PROGRAM",
    "Action",
    "ControlRequest",
    "OutputChange",
    "Shape",
    "parse_pattern",
    "plan_outputs",
]

#: How a pattern is written in text (the CLI's ``--pattern``, an MQTT command).
PATTERN_FORM = "PERCENT/SECONDS[,...], e.g. 100/0.2,0/0.3"


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    """How the zones a request drives follow their level.

    A ``waveform`` (PULSE and WAVE need ``period`` seconds > 0), or a ``pattern``
    the device loops on its own clock, scaled to the level; not both. ``zones``
    are the zones it applies to (each must get a level in the same request);
    ``None``: every zone the request sets a level for.
    """

    waveform: Waveform = Waveform.CONSTANT
    period: float = 0.0
    pattern: Pattern | None = None
    zones: tuple[int, ...] | None = None


def parse_pattern(text: str, field: str = "pattern") -> Pattern:
    """A pattern from ``PERCENT/SECONDS,...`` text; :class:`ControlError` if malformed."""
    if not isinstance(text, str):
        raise ControlError(
            f"{type(text).__name__} is not a pattern", field=field, accepted=PATTERN_FORM
        )
    steps = []
    for part in text.split(","):
        level, sep, seconds = part.partition("/")
        if not sep:
            raise ControlError(f"bad step {part!r}", field=field, accepted=PATTERN_FORM)
        try:
            steps.append(PatternStep(float(level) / 100, float(seconds)))
        except ValueError as exc:
            raise ControlError(
                f"bad step {part!r} ({exc})", field=field, accepted=PATTERN_FORM
            ) from None
    return Pattern(tuple(steps))


@dataclasses.dataclass(frozen=True, slots=True)
class ControlRequest:
    """What a face asks of a device; ``None`` fields leave things as they are.

    ``on`` switches the device on (at the last level used when nothing says
    which); ``program`` starts a program by name, or stops it with ``"none"``;
    ``action`` pauses, resumes or skips within the running program; ``shape``
    gives the zones it drives a waveform or a pattern. A stop and
    an emergency stop are not requests but :class:`~massager_sdk.control.Controller`
    calls: they are never refused.
    """

    on: bool = False
    intensity: int | None = None  #: every zone
    zones: tuple[tuple[int, int], ...] = ()  #: (zone index, level), over ``intensity``
    heat: float | Literal["off"] | None = None
    program: str | None = None
    action: Action | None = None
    shape: Shape | None = None

    @property
    def sets_outputs(self) -> bool:
        """Whether it sets intensities, their shape or heat by hand."""
        return (
            self.intensity is not None
            or bool(self.zones)
            or self.heat is not None
            or self.shape is not None
        )

    @property
    def starts_program(self) -> bool:
        """Whether it starts a program."""
        return self.program is not None and self.program != NO_PROGRAM

    @property
    def ends_program(self) -> bool:
        """Whether it stops the running program (to start another, or none)."""
        return self.program is not None


@dataclasses.dataclass(frozen=True, slots=True)
class OutputChange:
    """What to send for a request: zone levels grouped by level, and the heat target.

    ``shaped`` groups are sent with ``shape`` (first: the device may still refuse a
    pattern, e.g. every slot busy, and then nothing else is sent); ``groups`` steady.
    """

    outputs: Outputs  #: everything after the change
    groups: tuple[tuple[int, tuple[int, ...]], ...]  #: (level, zones) to send steady
    heat_changes: bool  #: whether ``outputs.heat_target_c`` is to be sent
    shape: Shape | None = None
    shaped: tuple[tuple[int, tuple[int, ...]], ...] = ()  #: (level, zones) to send shaped

    @property
    def empty(self) -> bool:
        """Whether nothing is to be sent."""
        return not self.groups and not self.shaped and not self.heat_changes


def plan_outputs(
    request: ControlRequest,
    current: Outputs,
    caps: DeviceCapabilities,
    policy: SafetyPolicy,
    now: float,
    *,
    last_on_level: int = 1,
) -> OutputChange:
    """The outputs ``request`` asks for, each checked before any is sent.

    Raises :class:`ControlError` for a level, zone, waveform or pattern the device
    does not have, or :class:`~massager_sdk.errors.SafetyRefusal` when the policy refuses a part
    (a rising level or a heat target); the policy may lower a heat target.
    """
    steps = caps.intensity_steps
    zones = len(caps.zones)
    levels = list(current.levels[:zones]) + [0] * (zones - len(current.levels))
    if request.intensity is not None:
        levels = [_level(caps, request.intensity, "intensity")] * zones
    for zone, level in request.zones:
        if not 0 <= zone < zones:
            raise ControlError(
                f"no zone {zone}", field="zones", accepted=f"0..{zones - 1} ({caps.model})"
            )
        levels[zone] = _level(caps, level, f"zones.{zone}")
    named = set(range(zones)) if request.intensity is not None else {z for z, _ in request.zones}
    shaped_zones = _check_shape(request.shape, caps, named)
    if request.on and request.intensity is None and not request.zones and not any(levels):
        levels = [min(max(1, last_on_level), steps)] * zones
    heat = current.heat_target_c
    if request.heat is not None:
        heat = None if request.heat == HEAT_OFF else float(request.heat)
        if heat is not None and (caps.heat is None or not 0 < heat <= caps.heat.limit_c):
            limit = "no heat" if caps.heat is None else f"0..{caps.heat.limit_c:g} C, or off"
            raise ControlError(f"{heat:g} C is out of range", field="heat", accepted=limit)
    # Every part is checked before anything is sent: a refusal changes nothing.
    for zone, level in enumerate(levels):
        if level > (current.levels[zone] if zone < len(current.levels) else 0):
            policy.check_output(zone, level, now)
    if request.heat is not None and heat is not None:
        heat = policy.check_heat(heat, now)
    groups: dict[int, list[int]] = {}
    shaped: dict[int, list[int]] = {}
    for zone, level in enumerate(levels):
        before = current.levels[zone] if zone < len(current.levels) else 0
        if zone in shaped_zones:
            shaped.setdefault(level, []).append(zone)
        elif level != before or request.intensity is not None:
            groups.setdefault(level, []).append(zone)
    return OutputChange(
        Outputs(tuple(levels), heat),
        tuple((level, tuple(z)) for level, z in groups.items()),
        request.heat is not None,
        request.shape if shaped else None,
        tuple((level, tuple(z)) for level, z in shaped.items()),
    )


def _check_shape(shape: Shape | None, caps: DeviceCapabilities, named: set[int]) -> set[int]:
    """The zones ``shape`` drives, checked against the device and the request's levels."""
    if shape is None:
        return set()
    field = "pattern" if shape.pattern is not None else "waveform"
    if shape.pattern is not None:
        if shape.waveform is not Waveform.CONSTANT:
            raise ControlError(
                "a pattern and a waveform together",
                field="pattern",
                accepted="a pattern, or a waveform, not both",
            )
        if not isinstance(shape.pattern, Pattern):
            raise ControlError(
                f"{type(shape.pattern).__name__} is not a pattern",
                field="pattern",
                accepted=PATTERN_FORM,
            )
        if not caps.supports_patterns:
            raise ControlError(
                f"{caps.model} cannot play patterns", field="pattern", accepted="no pattern"
            )
        if len(shape.pattern.steps) > caps.pattern_max_steps:
            raise ControlError(
                f"{len(shape.pattern.steps)} steps are too many",
                field="pattern",
                accepted=f"at most {caps.pattern_max_steps} steps ({caps.model})",
            )
    else:
        try:
            waveform_period(shape.waveform, shape.period)
        except (TypeError, ValueError) as exc:
            raise ControlError(
                str(exc),
                field="period" if isinstance(exc, ValueError) else "waveform",
                accepted=", ".join(w.value for w in Waveform) + "; pulse and wave with period > 0",
            ) from None
    wanted = named if shape.zones is None else set(shape.zones)
    if not wanted:
        raise ControlError(
            f"a {field} shapes a level, and none is given",
            field=field,
            accepted="with intensity or zone levels",
        )
    unset = sorted(wanted - named)
    if unset:
        raise ControlError(
            f"zone{'s' if len(unset) > 1 else ''} {', '.join(map(str, unset))} get no level",
            field=field,
            accepted="zones the request sets a level for",
        )
    return wanted


def _level(caps: DeviceCapabilities, level: int, field: str) -> int:
    try:
        return level_of(caps, level)
    except (TypeError, ValueError) as exc:
        raise ControlError(str(exc), field=field, accepted=f"0..{caps.intensity_steps}") from None
