"""Commands arriving over MQTT: checked whole before any part is applied.

Both forms come here: a JSON object on ``<base>/<id>/set`` and a plain value on
``<base>/<id>/set/<attr>`` (which becomes a one-field command). A command that
fails any check raises :class:`CommandError` saying which field is wrong and what
is accepted, and nothing of it is applied.

Fields (JSON types; plain topics take the same values as text):

``state``
    ``"ON"`` or ``"OFF"`` (any case; ``true``/``false`` too). ``OFF`` is an
    emergency stop: it always wins, and other fields sent with it are ignored
    (and reported as ignored).
``intensity``
    every zone, integer ``0..intensity_steps``.
``zones``
    ``{"<zone>": level}``; a zone is its key in the state (``left_neck``), its
    name, or its index. Overrides ``intensity`` for the zones it names.
``heat``
    ``"off"`` (or ``null``) or one of the device's preset targets in degrees C.
``program``
    a program's name (built-in or from the bridge's programs folder), or
    ``"none"`` to stop the running program (the Program select sends
    ``"(no program)"``, which means the same).
``pause`` / ``resume`` / ``skip``
    ``true``: act on the running program (the plain topics ignore the payload).
``waveform`` / ``period`` / ``pattern`` (JSON only)
    how the zones the command sets follow their level: ``"constant"``,
    ``"pulse"`` or ``"wave"`` with ``period`` seconds > 0, or a pattern the
    device loops, ``"PERCENT/SECONDS,..."`` (``"100/0.2,0/0.3"``). Checked with
    the rest by the control layer: a device without patterns refuses the whole
    command.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.control.errors import ControlError
from massager_sdk.control.request import HEAT_OFF as HEAT_OFF
from massager_sdk.control.request import NO_PROGRAM as NO_PROGRAM
from massager_sdk.control.request import Action, ControlRequest, Shape, parse_pattern
from massager_sdk.control.state import zone_keys as zone_keys

FIELDS = ("state", "intensity", "zones", "heat", "program", "pause", "resume", "skip")
#: How the set zones follow their level (JSON commands only).
SHAPE_FIELDS = ("waveform", "period", "pattern")
ACTIONS = ("pause", "resume", "skip")
#: Plain attributes: ``set/<attr>``, plus ``set/zones/<zone>``.
PLAIN_ATTRS = ("state", "intensity", "heat", "program", *ACTIONS)
#: The Program select's option for "no program": Home Assistant reads a select state
#: of ``none`` (any case) as "no option", so the select never shows that word.
NO_PROGRAM_OPTION = "(no program)"


#: A refused command (the control layer's refusal, under the name the bridge has used).
CommandError = ControlError


@dataclasses.dataclass(frozen=True, slots=True)
class CommandContext:
    """What a device accepts: the checks depend on it."""

    zone_keys: tuple[str, ...]  #: one per zone, in zone order (``left_neck``...)
    zone_names: tuple[str, ...]
    intensity_steps: int
    heat_targets_c: tuple[float, ...]  #: empty: no heater
    programs: tuple[str, ...]

    @classmethod
    def from_capabilities(cls, caps: DeviceCapabilities, programs: Sequence[str]) -> CommandContext:
        """The context of a device with ``caps``, offering ``programs``."""
        names = tuple(z.name for z in caps.zones)
        return cls(
            zone_keys=zone_keys(names),
            zone_names=names,
            intensity_steps=caps.intensity_steps,
            heat_targets_c=caps.heat.targets_c if caps.heat else (),
            programs=tuple(programs),
        )

    def heat_options(self) -> list[str]:
        """``off`` and each preset, as the heat select shows them."""
        return [HEAT_OFF, *(format_c(t) for t in self.heat_targets_c)]

    def zone_index(self, key: object) -> int:
        """A zone's index from its key, name or index; ``CommandError`` listing them."""
        if isinstance(key, str):
            lowered = key.strip().lower()
            for i, (k, name) in enumerate(zip(self.zone_keys, self.zone_names, strict=True)):
                if lowered in (k, name.lower()):
                    return i
            if lowered.isdigit() and int(lowered) < len(self.zone_keys):
                return int(lowered)
        raise CommandError(
            f"no zone {key!r}",
            field=f"zones.{key}",
            accepted=", ".join(f"{k} (or {i})" for i, k in enumerate(self.zone_keys)),
        )


def format_c(value: float) -> str:
    """A temperature as the heat select and the state show it (``40``, ``38.5``)."""
    return f"{value:g}"


@dataclasses.dataclass(frozen=True, slots=True)
class Command:
    """A checked command. ``None`` fields are not changed."""

    state: Literal["ON", "OFF"] | None = None
    intensity: int | None = None
    zones: tuple[tuple[int, int], ...] = ()  #: (zone index, level)
    heat: float | Literal["off"] | None = None
    program: str | None = None  #: a program name, or ``"none"``
    action: Action | None = None
    ignored: tuple[str, ...] = ()  #: fields dropped because ``state: OFF`` wins
    shape: Shape | None = None  #: a waveform or pattern for the zones it sets

    @property
    def emergency_stop(self) -> bool:
        """Whether this is ``state: OFF``."""
        return self.state == "OFF"

    @property
    def sets_outputs(self) -> bool:
        """Whether it changes intensities or heat by hand."""
        return self.request().sets_outputs

    def request(self) -> ControlRequest:
        """The command as the control layer takes it (``state: OFF`` is an emergency stop)."""
        return ControlRequest(
            on=self.state == "ON",
            intensity=self.intensity,
            zones=self.zones,
            heat=self.heat,
            program=self.program,
            action=self.action,
            shape=self.shape,
        )


def parse_json_command(payload: bytes, ctx: CommandContext, *, max_bytes: int = 4096) -> Command:
    """Check a JSON command from ``<base>/<id>/set``."""
    text = _text(payload, max_bytes)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CommandError(
            f"not JSON ({exc})",
            accepted='a JSON object such as {"intensity": 3}, or a plain value on set/<field>',
        ) from None
    if not isinstance(data, dict):
        raise CommandError(
            f"a command is a JSON object, got {_json_type(data)}",
            accepted='an object such as {"state": "ON", "intensity": 3}',
        )
    return check_fields(data, ctx, plain=False)


def parse_plain_command(
    attr: str, payload: bytes, ctx: CommandContext, *, max_bytes: int = 4096
) -> Command:
    """Check a plain command from ``<base>/<id>/set/<attr>``."""
    text = _text(payload, max_bytes).strip()
    if attr.startswith("zones/"):
        zone = attr.removeprefix("zones/")
        return check_fields({"zones": {zone: text}}, ctx, plain=True)
    if attr not in PLAIN_ATTRS:
        raise CommandError(
            f"no command topic set/{attr}",
            accepted=", ".join([*(f"set/{a}" for a in PLAIN_ATTRS), "set/zones/<zone>"]),
        )
    if attr in ACTIONS:
        return check_fields({attr: True}, ctx, plain=True)
    return check_fields({attr: text}, ctx, plain=True)


def check_fields(data: Mapping[str, Any], ctx: CommandContext, *, plain: bool) -> Command:
    """Check every field of a command and how they combine."""
    if not data:
        raise CommandError("empty command", accepted=", ".join(FIELDS))
    known = FIELDS if plain else (*FIELDS, *SHAPE_FIELDS)
    unknown = [k for k in data if k not in known]
    if unknown:
        raise CommandError(
            f"unknown field{'s' if len(unknown) > 1 else ''} "
            + ", ".join(repr(k) for k in unknown),
            accepted=", ".join(known),
        )
    state = _state(data["state"], plain) if "state" in data else None
    if state == "OFF":
        # An emergency stop is never refused for what came with it.
        return Command(state="OFF", ignored=tuple(k for k in data if k != "state"))
    intensity = _level(data["intensity"], ctx, "intensity", plain) if "intensity" in data else None
    zones = _zones(data["zones"], ctx, plain) if "zones" in data else ()
    heat = _heat(data["heat"], ctx, plain) if "heat" in data else None
    program = _program(data["program"], ctx) if "program" in data else None
    shape = _shape(data) if any(k in data for k in SHAPE_FIELDS) else None
    actions = [a for a in ACTIONS if a in data]
    for a in actions:
        if data[a] is not True:
            raise CommandError(f"{data[a]!r}: send true", field=a, accepted="true")
    if len(actions) > 1:
        raise CommandError(
            f"{' and '.join(actions)} in one command contradict each other",
            accepted="one of pause, resume, skip",
        )
    action: Action | None = actions[0] if actions else None  # type: ignore[assignment]
    if program is not None and program != NO_PROGRAM:
        clash = [k for k in ("intensity", "zones", "heat", *SHAPE_FIELDS, *ACTIONS) if k in data]
        if clash:
            raise CommandError(
                f"program {program!r} cannot be combined with {', '.join(clash)}: "
                "a program sets intensity and heat itself",
                field="program",
                accepted="program alone (with state ON at most); adjust with pause/resume/skip",
            )
    if action is not None and program is not None:
        raise CommandError(
            f"{action} and program in one command: send them separately", field=action
        )
    if action is not None and (intensity is not None or zones or heat is not None or shape):
        raise CommandError(
            f"{action} acts on a program; intensity, zones and heat go in a separate command",
            field=action,
        )
    return Command(
        state=state,
        intensity=intensity,
        zones=zones,
        heat=heat,
        program=program,
        action=action,
        shape=shape,
    )


# --------------------------------------------------------------------------
# One checker per field
# --------------------------------------------------------------------------


def _text(payload: bytes, max_bytes: int) -> str:
    if len(payload) > max_bytes:
        raise CommandError(
            f"payload of {len(payload)} bytes is too large",
            accepted=f"at most {max_bytes} bytes",
        )
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError("payload is not UTF-8 text", accepted="UTF-8 JSON or text") from None


def _json_type(value: object) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _state(value: object, plain: bool) -> Literal["ON", "OFF"]:
    if value is True or (isinstance(value, str) and value.strip().upper() == "ON"):
        return "ON"
    if value is False or (isinstance(value, str) and value.strip().upper() == "OFF"):
        return "OFF"
    got = repr(value) if plain or isinstance(value, str) else _json_type(value)
    raise CommandError(f"{got} is not a state", field="state", accepted='"ON" or "OFF"')


def _number(value: object, plain: bool) -> float | None:
    """A finite number from JSON (or from text on a plain topic); ``None`` if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if plain and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _level(value: object, ctx: CommandContext, field: str, plain: bool) -> int:
    accepted = f"an integer 0..{ctx.intensity_steps}"
    number = _number(value, plain)
    if number is None:
        got = repr(value) if plain or isinstance(value, str) else _json_type(value)
        raise CommandError(f"{got} is not a number", field=field, accepted=accepted)
    if not number.is_integer():
        raise CommandError(f"{number:g} is not a whole step", field=field, accepted=accepted)
    if not 0 <= number <= ctx.intensity_steps:
        raise CommandError(f"{number:g} is out of range", field=field, accepted=accepted)
    return int(number)


def _zones(value: object, ctx: CommandContext, plain: bool) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, dict) or not value:
        raise CommandError(
            f"{_json_type(value)} is not a zone map",
            field="zones",
            accepted='an object of zone: level, e.g. {"' + ctx.zone_keys[0] + '": 3}',
        )
    out: dict[int, int] = {}
    for key, level in value.items():
        index = ctx.zone_index(key)
        if index in out:
            raise CommandError(f"zone {ctx.zone_keys[index]} is named twice", field=f"zones.{key}")
        out[index] = _level(level, ctx, f"zones.{key}", plain)
    return tuple(sorted(out.items()))


def _heat(value: object, ctx: CommandContext, plain: bool) -> float | Literal["off"]:
    if not ctx.heat_targets_c:
        raise CommandError("this device has no heater", field="heat", accepted="no heat field")
    accepted = ", ".join(ctx.heat_options())
    if value is None or value is False:
        return HEAT_OFF
    if isinstance(value, str) and value.strip().lower() == HEAT_OFF:
        return HEAT_OFF
    # The select sends its option text ("40"), so text is accepted in JSON too.
    number = _number(value, plain or isinstance(value, str))
    if number is None:
        got = repr(value) if isinstance(value, str) else _json_type(value)
        raise CommandError(f"{got} is not a heat setting", field="heat", accepted=accepted)
    for target in ctx.heat_targets_c:
        if abs(number - target) < 0.05:
            return target
    raise CommandError(
        f"{number:g} C is not one of the device's heat presets", field="heat", accepted=accepted
    )


def _program(value: object, ctx: CommandContext) -> str:
    accepted = ", ".join([NO_PROGRAM, *ctx.programs])
    if not isinstance(value, str):
        raise CommandError(
            f"{_json_type(value)} is not a program name", field="program", accepted=accepted
        )
    name = value.strip()
    if name.lower() == NO_PROGRAM or name == NO_PROGRAM_OPTION:
        return NO_PROGRAM
    if name not in ctx.programs:
        raise CommandError(f"no program {name!r}", field="program", accepted=accepted)
    return name


def _shape(data: Mapping[str, Any]) -> Shape:
    """The waveform or pattern fields; the control layer checks them against the device."""
    from massager_sdk.model import Waveform

    names = [w.value for w in Waveform]
    waveform = data.get("waveform", Waveform.CONSTANT.value)
    if not isinstance(waveform, str) or waveform.strip().lower() not in names:
        got = repr(waveform) if isinstance(waveform, str) else _json_type(waveform)
        raise CommandError(f"{got} is not a waveform", field="waveform", accepted=", ".join(names))
    period = _number(data.get("period", 0.0), plain=False)
    if period is None:
        raise CommandError(
            f"{_json_type(data['period'])} is not a number of seconds",
            field="period",
            accepted="seconds > 0, with waveform pulse or wave",
        )
    pattern = parse_pattern(data["pattern"]) if "pattern" in data else None
    return Shape(Waveform(waveform.strip().lower()), period, pattern)
