"""The one state document of a device: the MQTT state, ``massager status --json`` and the API.

The MQTT bridge publishes it, retained, on ``<base>/<id>``.

Fields::

    state        "ON" while a motor or the heater is on or a program runs, else "OFF"
    intensity    the highest zone level (what the intensity slider shows)
    zones        {"left_neck": 3, ...} level of each zone
    heat         heater target in C, or null when the heater is off
    temperature  pad temperature in C, or null
    battery      charge in %, or null (mains power)
    charging     true while on the charger
    remaining_s  seconds left: of the program when one runs, else until auto-off
    session_remaining_s  on-time left in the safety session before its auto-off, or null
    thermal_dose_pct     heat received, in % of the burn threshold, or null
    last_refusal the last refused command, in one line, or null
    program      the running program's name, or "none"
    program_state "idle", "running" or "paused"
    progress     {"elapsed_s", "duration_s", "percent", "stage"} of the program, or null
    status       one line for people: "idle", "massaging", "program classic: main"...
    faults       active fault names, sorted
    safety       the safety policy's snapshot, or null
    link         "online" or "offline": whether the bridge reaches the device
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from massager_sdk.model import DeviceStatus

#: The program field's value when no program runs.
NO_PROGRAM = "none"


@dataclasses.dataclass(frozen=True, slots=True)
class ProgramView:
    """A program as the state shows it."""

    name: str
    paused: bool = False
    elapsed_s: float = 0.0
    duration_s: float = 0.0
    stage: str | None = None

    @property
    def remaining_s(self) -> float:
        """Seconds left of the program."""
        return max(0.0, self.duration_s - self.elapsed_s)


#: Fields whose every change is published at once; others (temperature, battery,
#: remaining time, the safety snapshot) at most every ``telemetry_interval``.
FAST_FIELDS = (
    "state",
    "intensity",
    "zones",
    "heat",
    "program",
    "program_state",
    "status",
    "faults",
    "link",
    "last_refusal",
)


def number(value: float | None, digits: int = 1) -> float | int | None:
    """A JSON number: whole values as integers (so templates show ``40``, not ``40.0``)."""
    if value is None or not math.isfinite(value):
        return None
    rounded = round(value, digits)
    return round(rounded) if float(rounded).is_integer() else rounded


@dataclasses.dataclass(frozen=True, slots=True)
class Outputs:
    """Zone levels and a heat target (``None``: off), as a request or the state shows them."""

    levels: tuple[int, ...]
    heat_target_c: float | None

    @property
    def running(self) -> bool:
        """Whether a motor or the heater is on."""
        return any(self.levels) or self.heat_target_c is not None


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceState:
    """Everything known about a device now, as one value; :meth:`to_dict` is the document.

    ``outputs``, when given, are the levels and heat target to show instead of
    the status's: what the device acknowledged after the status was sent.
    """

    status: DeviceStatus | None
    zone_keys: tuple[str, ...]
    outputs: Outputs | None = None
    program: ProgramView | None = None
    safety: Mapping[str, Any] | None = None
    online: bool = True
    last_refusal: str | None = None

    def to_dict(self, *, report: bool = False) -> dict[str, Any]:
        """The state document (see the module documentation for its fields).

        ``report`` adds the device's own last report as it sent it:
        ``intensities``, ``heat_target_c``, ``temperature_c``, ``battery_pct``,
        ``battery_mv`` and ``auto_off_s`` (what ``massager status --json`` shows).
        """
        status, program, outputs = self.status, self.program, self.outputs
        if outputs is None and status is not None:
            outputs = Outputs(tuple(status.intensities), status.heat_target_c)
        levels = outputs.levels if outputs else (0,) * len(self.zone_keys)
        heat = outputs.heat_target_c if outputs else None
        running = bool(outputs and outputs.running) or program is not None
        if program is not None:
            remaining = program.remaining_s
        elif status is not None and running:
            remaining = float(status.auto_off_s)
        else:
            remaining = 0.0
        progress = None
        if program is not None:
            percent = 100 * program.elapsed_s / program.duration_s if program.duration_s else 0.0
            progress = {
                "elapsed_s": number(program.elapsed_s),
                "duration_s": number(program.duration_s),
                "percent": number(min(100.0, percent)),
                "stage": program.stage,
            }
        doc: dict[str, Any] = {
            "state": "ON" if running else "OFF",
            "intensity": max(levels, default=0),
            "zones": dict(zip(self.zone_keys, levels, strict=False)),
            "heat": number(heat),
            "temperature": number(status.temperature_c) if status else None,
            "battery": status.battery_pct if status else None,
            "charging": bool(status and status.charging),
            "remaining_s": math.ceil(remaining),
            "program": program.name if program else NO_PROGRAM,
            "program_state": "idle"
            if program is None
            else "paused"
            if program.paused
            else "running",
            "progress": progress,
            "status": status_text(status, outputs, program, self.online),
            "faults": sorted(status.faults) if status else [],
            "safety": dict(self.safety) if self.safety is not None else None,
            "link": "online" if self.online else "offline",
            "last_refusal": self.last_refusal,
            **safety_fields(self.safety),
        }
        if report and status is not None:
            doc.update(device_report(status))
        return doc


def device_report(status: DeviceStatus) -> dict[str, Any]:
    """A status as the device sent it, as JSON-ready values."""
    return {
        "intensities": list(status.intensities),
        "heat_target_c": status.heat_target_c,
        "temperature_c": status.temperature_c,
        "battery_pct": status.battery_pct,
        "battery_mv": status.battery_mv,
        "charging": status.charging,
        "auto_off_s": status.auto_off_s,
        "faults": sorted(status.faults),
    }


def state_document(
    status: DeviceStatus | None,
    zone_keys: Sequence[str],
    *,
    outputs: Outputs | None = None,
    program: ProgramView | None = None,
    safety: Mapping[str, Any] | None = None,
    online: bool = True,
    last_refusal: str | None = None,
) -> dict[str, Any]:
    """The state document of :class:`DeviceState` built from these values."""
    state = DeviceState(status, tuple(zone_keys), outputs, program, safety, online, last_refusal)
    return state.to_dict()


def slug(text: str) -> str:
    """``text`` as an id fragment: lower case, runs of other characters become ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def zone_keys(names: Sequence[str]) -> tuple[str, ...]:
    """State keys of zones: their names as slugs, made unique with the index."""
    keys: list[str] = []
    for i, name in enumerate(names):
        key = slug(name) or f"zone{i}"
        keys.append(f"{key}_{i}" if key in keys else key)
    return tuple(keys)


#: Home Assistant keeps at most this many characters of a sensor's state.
REFUSAL_CHARS = 250


def refusal_line(text: str) -> str:
    """A refusal as the "last refusal" sensor can hold it (one line, at most 250 chars)."""
    line = " ".join(text.split())
    return line if len(line) <= REFUSAL_CHARS else line[: REFUSAL_CHARS - 1] + "…"


def safety_fields(safety: Mapping[str, Any] | None) -> dict[str, Any]:
    """``session_remaining_s`` and ``thermal_dose_pct`` from a safety snapshot (or nulls)."""
    if safety is None:
        return {"session_remaining_s": None, "thermal_dose_pct": None}
    remaining = safety.get("session_remaining_s")
    dose = safety.get("thermal_dose_fraction")
    return {
        "session_remaining_s": math.ceil(remaining) if isinstance(remaining, int | float) else None,
        "thermal_dose_pct": number(100 * dose, 2) if isinstance(dose, int | float) else None,
    }


def status_text(
    status: DeviceStatus | None,
    outputs: Outputs | None,
    program: ProgramView | None,
    online: bool,
) -> str:
    """One line for the status sensor."""
    if not online:
        return "link lost"
    if status is None:
        return "connecting"
    if status.faults:
        return "fault: " + ", ".join(sorted(status.faults))
    if program is not None:
        where = f": {program.stage}" if program.stage else ""
        return f"program {program.name}{' paused' if program.paused else ''}{where}"
    massaging = bool(outputs and any(outputs.levels))
    heating = bool(outputs and outputs.heat_target_c is not None)
    if massaging and heating:
        return "massaging and heating"
    if massaging:
        return "massaging"
    if heating:
        return "heating"
    return "idle"


def fast_view(doc: Mapping[str, Any]) -> tuple[Any, ...]:
    """The fields whose change is published without waiting (see :data:`FAST_FIELDS`)."""
    return tuple(_freeze(doc.get(k)) for k in FAST_FIELDS)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value
