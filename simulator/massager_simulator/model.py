"""Device models: what a simulated massager is, read from TOML data files.

A model file (``models/<name>.toml``) holds the figures a firmware build is
configured with: zones, intensity steps, watchdog and auto-off times, heater
and battery parameters. :func:`load_model` reads and checks one; the checks
name the file, the field, the bad value and what is accepted.
"""

from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from massager_protocols.nmp import (
    MAX_INTENSITY_STEPS,
    MAX_ZONES,
    PROTOCOL_VERSION,
    Feature,
    Info,
    ZoneInfo,
    ZonePosition,
)

from massager_simulator.personalities import default_protocol, known_protocols

#: The model the embedded simulator runs when none is named.
DEFAULT_MODEL = "heat4"

#: Open-circuit voltage of a 1S lithium-ion cell against charge (percent, mV).
DEFAULT_VOLTAGE_CURVE: tuple[tuple[float, int], ...] = (
    (0.0, 3300),
    (3.0, 3450),
    (10.0, 3600),
    (20.0, 3680),
    (50.0, 3780),
    (80.0, 3960),
    (100.0, 4180),
)


class ModelError(ValueError):
    """A model name that does not exist, or a model file with a bad field."""


@dataclasses.dataclass(frozen=True, slots=True)
class ZoneSpec:
    """One motor zone."""

    position: ZonePosition
    name: str


@dataclasses.dataclass(frozen=True, slots=True)
class HeatSpec:
    """The infrared heater and its first-order thermal model."""

    targets_c: tuple[float, ...]  #: preset targets offered in INFO
    limit_c: float  #: the heater never exceeds this
    ambient_c: float  #: temperature the pad settles to when unpowered
    time_constant_s: float  #: first-order time constant of pad + skin
    max_rise_c: float  #: steady rise above ambient at full heater power
    power_w: float  #: heater power at full duty (for battery drain)


@dataclasses.dataclass(frozen=True, slots=True)
class BatterySpec:
    """A single lithium-ion cell and its loads."""

    capacity_mah: int
    idle_ma: float  #: electronics and radio
    motor_ma: float  #: one motor at full intensity
    charge_ma: float  #: charger current
    internal_mohm: float  #: internal resistance (voltage sag under load)
    low_pct: int  #: low-battery warning level
    shutdown_pct: int  #: everything stops at or below this level
    voltage_curve: tuple[tuple[float, int], ...] = DEFAULT_VOLTAGE_CURVE


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceModel:
    """Everything a firmware build knows about its hardware."""

    name: str  #: the model file's name, e.g. ``heat4``
    model: str  #: the model string reported in INFO
    serial: str  #: default serial number
    firmware: tuple[int, int, int]
    intensity_steps: int
    watchdog_ms: int
    auto_off_default_s: int
    auto_off_max_s: int
    min_gap_ms: int
    pattern_slots: int
    pattern_max_steps: int
    button: bool
    ramp_ms: int  #: full-scale soft-start ramp time of a motor
    zones: tuple[ZoneSpec, ...]
    heat: HeatSpec | None = None
    battery: BatterySpec | None = None
    #: The wire protocol the firmware speaks (a personality's name; default: the
    #: fallback personality's).
    protocol: str = dataclasses.field(default_factory=default_protocol)
    #: The ``[protocol_options]`` table, checked by the protocol's personality.
    protocol_options: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def features(self) -> Feature:
        """The feature flags INFO advertises."""
        flags = Feature(0)
        if self.heat is not None:
            flags |= Feature.HEAT | Feature.TEMPERATURE_SENSOR
        if self.pattern_slots:
            flags |= Feature.PATTERNS
        if self.battery is not None:
            flags |= Feature.BATTERY | Feature.CHARGING
        if self.button:
            flags |= Feature.BUTTON
        return flags

    def info(self, serial: str | None = None) -> Info:
        """The INFO message of a device of this model."""
        heat = self.heat
        return Info(
            protocol_version=PROTOCOL_VERSION,
            fw_major=self.firmware[0],
            fw_minor=self.firmware[1],
            fw_patch=self.firmware[2],
            features=int(self.features),
            intensity_steps=self.intensity_steps,
            watchdog_ms=self.watchdog_ms,
            auto_off_default_s=self.auto_off_default_s,
            auto_off_max_s=self.auto_off_max_s,
            heat_limit_dc=0 if heat is None else round(heat.limit_c * 10),
            battery_mah=0 if self.battery is None else self.battery.capacity_mah,
            pattern_slots=self.pattern_slots,
            pattern_max_steps=self.pattern_max_steps,
            min_gap_ms=self.min_gap_ms,
            model=self.model,
            serial=self.serial if serial is None else serial,
            heat_targets_dc=() if heat is None else tuple(round(t * 10) for t in heat.targets_c),
            zones=tuple(ZoneInfo(int(z.position), z.name) for z in self.zones),
        )


def _models_dir() -> Any:
    return resources.files("massager_simulator").joinpath("models")


def list_models() -> list[str]:
    """Names of the bundled models, sorted."""
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in _models_dir().iterdir()
        if entry.name.endswith(".toml")
    )


def load_model(name: str | Path) -> DeviceModel:
    """Load a bundled model by name (``heat4``) or a model file by path.

    Raises :class:`ModelError` naming the available models, or the field that
    is wrong and what it accepts.
    """
    path = Path(name)
    if isinstance(name, Path) or path.suffix == ".toml":
        if not path.is_file():
            raise ModelError(f"model file {str(name)!r} does not exist")
        text, label = path.read_text(encoding="utf-8"), path.stem
    else:
        entry = _models_dir().joinpath(f"{name}.toml")
        if not name or not entry.is_file():
            raise ModelError(
                f"unknown model {name!r}; available models: {', '.join(list_models())} "
                "(or a path to a .toml model file)"
            )
        text, label = entry.read_text(encoding="utf-8"), str(name)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"model {label}: not valid TOML: {exc}") from None
    return parse_model(label, data)


class _Fields:
    """Reads checked fields out of one table of a model file."""

    def __init__(self, model: str, table: str, data: dict[str, Any]) -> None:
        self.model, self.table, self.data = model, table, data

    def _where(self, key: str) -> str:
        return f"model {self.model}: {self.table}{key}"

    def get(self, key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in self.data:
            raise ModelError(f"{self._where(key)} is missing")
        value = self.data[key]
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise ModelError(f"{self._where(key)} = {value!r} must be {_kind_name(kind)}")
        return value

    def integer(self, key: str, low: int, high: int) -> int:
        value: int = self.get(key, int)
        if not low <= value <= high:
            raise ModelError(f"{self._where(key)} = {value} is outside {low}..{high}")
        return value

    def number(self, key: str, low: float, high: float) -> float:
        value = float(self.get(key, (int, float)))
        if not low <= value <= high:
            raise ModelError(f"{self._where(key)} = {value} is outside {low}..{high}")
        return value

    def text(self, key: str, max_bytes: int) -> str:
        value: str = self.get(key, str)
        if not value or len(value.encode("utf-8")) > max_bytes:
            raise ModelError(f"{self._where(key)} = {value!r} must be 1..{max_bytes} UTF-8 bytes")
        return value

    def unknown(self, known: set[str]) -> None:
        extra = sorted(set(self.data) - known)
        if extra:
            raise ModelError(
                f"model {self.model}: unknown field(s) {', '.join(self.table + e for e in extra)}; "
                f"accepted: {', '.join(sorted(known))}"
            )


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def parse_model(name: str, data: dict[str, Any]) -> DeviceModel:
    """Build a :class:`DeviceModel` from the parsed TOML of a model file."""
    top = _Fields(name, "", data)
    top.unknown(
        {
            "model", "serial", "firmware", "intensity_steps", "watchdog_ms",
            "auto_off_default_s", "auto_off_max_s", "min_gap_ms", "pattern_slots",
            "pattern_max_steps", "button", "ramp_ms", "zones", "heat", "battery",
            "protocol", "protocol_options",
        }
    )  # fmt: skip
    firmware = top.text("firmware", 16)
    parts = firmware.split(".")
    if len(parts) != 3 or not all(p.isdigit() and int(p) <= 255 for p in parts):
        raise ModelError(
            f"model {name}: firmware = {firmware!r} must be MAJOR.MINOR.PATCH, each 0..255"
        )
    zones_data = top.get("zones", list)
    if not 1 <= len(zones_data) <= MAX_ZONES:
        raise ModelError(f"model {name}: needs 1..{MAX_ZONES} [[zones]], has {len(zones_data)}")
    zones = tuple(_zone(name, i, z) for i, z in enumerate(zones_data))
    auto_off_max = top.integer("auto_off_max_s", 1, 0xFFFF)
    pattern_slots = top.integer("pattern_slots", 0, 255)
    protocol = data.get("protocol", default_protocol())
    if protocol not in known_protocols():
        raise ModelError(
            f"model {name}: protocol = {protocol!r}; accepted: {', '.join(known_protocols())}"
        )
    options = data.get("protocol_options", {})
    if not isinstance(options, dict):
        raise ModelError(f"model {name}: protocol_options must be a table")
    return DeviceModel(
        name=name,
        model=top.text("model", 32),
        serial=top.text("serial", 32),
        firmware=(int(parts[0]), int(parts[1]), int(parts[2])),
        # NMP/1's STATUS holds a level in 4 bits; other protocols carry a byte
        intensity_steps=top.integer(
            "intensity_steps", 1, MAX_INTENSITY_STEPS if protocol == "nmp1" else 255
        ),
        watchdog_ms=top.integer("watchdog_ms", 100, 0xFFFF),
        auto_off_default_s=top.integer("auto_off_default_s", 1, auto_off_max),
        auto_off_max_s=auto_off_max,
        min_gap_ms=top.integer("min_gap_ms", 0, 255),
        pattern_slots=pattern_slots,
        pattern_max_steps=top.integer("pattern_max_steps", 1 if pattern_slots else 0, 255),
        button=top.get("button", bool),
        ramp_ms=top.integer("ramp_ms", 0, 10_000),
        zones=zones,
        heat=_heat(name, data["heat"]) if "heat" in data else None,
        battery=_battery(name, data["battery"]) if "battery" in data else None,
        protocol=protocol,
        protocol_options=options,
    )


def _zone(name: str, index: int, data: Any) -> ZoneSpec:
    if not isinstance(data, dict):
        raise ModelError(f"model {name}: zones[{index}] must be a table")
    fields = _Fields(name, f"zones[{index}].", data)
    fields.unknown({"position", "name"})
    position = fields.get("position", str)
    if position not in ZonePosition.__members__:
        raise ModelError(
            f"model {name}: zones[{index}].position = {position!r}; "
            f"accepted: {', '.join(ZonePosition.__members__)}"
        )
    return ZoneSpec(ZonePosition[position], fields.text("name", 24))


def _heat(name: str, data: Any) -> HeatSpec:
    if not isinstance(data, dict):
        raise ModelError(f"model {name}: heat must be a table")
    fields = _Fields(name, "heat.", data)
    fields.unknown(
        {"targets_c", "limit_c", "ambient_c", "time_constant_s", "max_rise_c", "power_w"}
    )
    limit = fields.number("limit_c", 30.0, 60.0)
    targets = fields.get("targets_c", list)
    if not targets or not all(
        isinstance(t, (int, float)) and not isinstance(t, bool) and 20.0 <= t <= limit
        for t in targets
    ):
        raise ModelError(
            f"model {name}: heat.targets_c = {targets!r} must list 1+ numbers 20..{limit}"
        )
    ambient = fields.number("ambient_c", -10.0, 40.0)
    rise = fields.number("max_rise_c", 1.0, 100.0)
    return HeatSpec(
        targets_c=tuple(sorted(float(t) for t in targets)),
        limit_c=limit,
        ambient_c=ambient,
        time_constant_s=fields.number("time_constant_s", 1.0, 3600.0),
        max_rise_c=rise,
        power_w=fields.number("power_w", 0.1, 100.0),
    )


def _battery(name: str, data: Any) -> BatterySpec:
    if not isinstance(data, dict):
        raise ModelError(f"model {name}: battery must be a table")
    fields = _Fields(name, "battery.", data)
    fields.unknown(
        {"capacity_mah", "idle_ma", "motor_ma", "charge_ma", "internal_mohm", "low_pct",
         "shutdown_pct", "voltage_curve"}
    )  # fmt: skip
    curve = DEFAULT_VOLTAGE_CURVE
    if "voltage_curve" in data:
        raw = fields.get("voltage_curve", list)
        try:
            curve = tuple((float(p), int(mv)) for p, mv in raw)
        except (TypeError, ValueError):
            raise ModelError(
                f"model {name}: battery.voltage_curve must be [[percent, mV], ...]"
            ) from None
        pcts = [p for p, _ in curve]
        if len(curve) < 2 or pcts != sorted(pcts) or pcts[0] != 0.0 or pcts[-1] != 100.0:
            raise ModelError(
                f"model {name}: battery.voltage_curve must run from 0 to 100 percent, ascending"
            )
    shutdown = fields.integer("shutdown_pct", 0, 50)
    return BatterySpec(
        capacity_mah=fields.integer("capacity_mah", 1, 0xFFFF),
        idle_ma=fields.number("idle_ma", 0.0, 10_000.0),
        motor_ma=fields.number("motor_ma", 0.0, 10_000.0),
        charge_ma=fields.number("charge_ma", 1.0, 10_000.0),
        internal_mohm=fields.number("internal_mohm", 0.0, 10_000.0),
        low_pct=fields.integer("low_pct", shutdown + 1, 99),
        shutdown_pct=shutdown,
        voltage_curve=curve,
    )
