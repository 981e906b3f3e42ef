"""A control request, and the outputs it asks for, checked whole before any part applies.

:func:`plan_outputs` is sans-I/O: given the request, the outputs the device
runs now, its capabilities and its safety policy, it says which levels go to
which zones and which heat target, or raises. Either every part of a request
passes the device's capabilities and the safety policy, or nothing is sent.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.client import level_of
from massager_sdk.control.errors import ControlError
from massager_sdk.control.state import NO_PROGRAM, Outputs
from massager_sdk.safety import SafetyPolicy

#: The heat field's value for "heater off".
HEAT_OFF: Literal["off"] = "off"

Action = Literal["pause", "resume", "skip"]

__all__ = ["HEAT_OFF", "NO_PROGRAM", "Action", "ControlRequest", "OutputChange", "plan_outputs"]


@dataclasses.dataclass(frozen=True, slots=True)
class ControlRequest:
    """What a face asks of a device; ``None`` fields leave things as they are.

    ``on`` switches the device on (at the last level used when nothing says
    which); ``program`` starts a program by name, or stops it with ``"none"``;
    ``action`` pauses, resumes or skips within the running program. A stop and
    an emergency stop are not requests but :class:`~massager_sdk.control.Controller`
    calls: they are never refused.
    """

    on: bool = False
    intensity: int | None = None  #: every zone
    zones: tuple[tuple[int, int], ...] = ()  #: (zone index, level), over ``intensity``
    heat: float | Literal["off"] | None = None
    program: str | None = None
    action: Action | None = None

    @property
    def sets_outputs(self) -> bool:
        """Whether it sets intensities or heat by hand."""
        return self.intensity is not None or bool(self.zones) or self.heat is not None

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
    """What to send for a request: zone levels grouped by level, and the heat target."""

    outputs: Outputs  #: everything after the change
    groups: tuple[tuple[int, tuple[int, ...]], ...]  #: (level, zones) to send
    heat_changes: bool  #: whether ``outputs.heat_target_c`` is to be sent

    @property
    def empty(self) -> bool:
        """Whether nothing is to be sent."""
        return not self.groups and not self.heat_changes


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

    Raises :class:`ControlError` for a level or zone the device does not have,
    or :class:`~massager_sdk.errors.SafetyRefusal` when the policy refuses a part
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
    for zone, level in enumerate(levels):
        before = current.levels[zone] if zone < len(current.levels) else 0
        if level != before or request.intensity is not None:
            groups.setdefault(level, []).append(zone)
    return OutputChange(
        Outputs(tuple(levels), heat),
        tuple((level, tuple(z)) for level, z in groups.items()),
        request.heat is not None,
    )


def _level(caps: DeviceCapabilities, level: int, field: str) -> int:
    try:
        return level_of(caps, level)
    except (TypeError, ValueError) as exc:
        raise ControlError(str(exc), field=field, accepted=f"0..{caps.intensity_steps}") from None
