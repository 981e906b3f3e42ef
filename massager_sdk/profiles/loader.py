"""Reading device profiles from TOML files, with errors that name the field.

Built-in profiles ship in ``massager_sdk/profiles/builtin/``; a user adds or
replaces one by putting ``<id>.toml`` in the user profile folder
(``$MASSAGER_PROFILES_DIR``, else ``<config>/massager/profiles``). The
published JSON Schema (``docs/profile.schema.json``) describes the same format;
a test keeps the two in agreement.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
import warnings
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from massager_protocols.nmp import ZonePosition

from massager_sdk.model import Waveform
from massager_sdk.profiles.model import (
    DataPrefix,
    DeviceProfile,
    GattEndpoints,
    HeatLevel,
    MatchRule,
    ModeSpec,
    ProfileCapabilities,
    SerialParameters,
    ZoneSpec,
)
from massager_sdk.protocols.registry import find_protocol, protocol_names

#: Environment variable naming the user's profile folder.
PROFILES_DIR_ENV = "MASSAGER_PROFILES_DIR"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX = re.compile(r"^([0-9a-fA-F]{2})*$")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class ProfileError(ValueError):
    """A profile that does not exist, or a profile file with a bad field."""


def config_dir() -> Path:
    """The user's massager configuration folder."""
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "massager"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "massager"


def user_profiles_dir() -> Path:
    """Where user profiles are read from."""
    explicit = os.environ.get(PROFILES_DIR_ENV)
    return Path(explicit).expanduser() if explicit else config_dir() / "profiles"


class _Table:
    """Checked reads from one table of a profile file."""

    def __init__(self, profile: str, where: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ProfileError(f"profile {profile}: {where or 'the file'} must be a table")
        self.profile, self.where, self.data = profile, where, data

    def _name(self, key: str) -> str:
        return f"profile {self.profile}: {self.where}{'.' if self.where else ''}{key}"

    def known(self, keys: Iterable[str]) -> None:
        extra = sorted(set(self.data) - set(keys))
        if extra:
            raise ProfileError(
                f"profile {self.profile}: unknown field(s) {', '.join(extra)} in "
                f"{self.where or 'the top level'}; accepted: {', '.join(sorted(keys))}"
            )

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.data:
            if default is ...:
                raise ProfileError(f"{self._name(key)} is missing")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            names = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
                     list: "an array", dict: "a table"}  # fmt: skip
            wanted = " or ".join(names.get(k, k.__name__) for k in kinds)
            raise ProfileError(f"{self._name(key)} = {value!r} must be {wanted}")
        return value

    def integer(self, key: str, low: int, high: int, default: Any = ...) -> Any:
        """An integer in ``low..high`` (``default`` as given when the key is absent)."""
        if key not in self.data and default is not ...:
            return default
        value = self.get(key, int)
        if not low <= value <= high:
            raise ProfileError(f"{self._name(key)} = {value} is outside {low}..{high}")
        return int(value)

    def number(self, key: str, low: float, high: float, default: Any = ...) -> Any:
        """A number in ``low..high`` (``default`` as given when the key is absent)."""
        if key not in self.data and default is not ...:
            return default
        value = self.get(key, (int, float))
        if not low <= value <= high:
            raise ProfileError(f"{self._name(key)} = {value} is outside {low}..{high}")
        return float(value)

    def text(self, key: str, default: Any = ...) -> str:
        value = self.get(key, str, default)
        if value is not default and not value:
            raise ProfileError(f"{self._name(key)} must not be empty")
        return str(value)

    def uuid(self, key: str, default: Any = ...) -> Any:
        """A UUID in its 128-bit lower-case form (``default`` as given when absent)."""
        value = self.get(key, str, default)
        if value is default:
            return default
        return _uuid(self._name(key), value)

    def tables(self, key: str) -> list[_Table]:
        items = self.get(key, list, [])
        return [
            _Table(self.profile, f"{self.where}{'.' if self.where else ''}{key}[{i}]", item)
            for i, item in enumerate(items)
        ]


def _uuid(where: str, value: str) -> str:
    text = value.lower()
    if re.fullmatch(r"[0-9a-f]{4}", text):  # a 16-bit UUID of the Bluetooth base
        text = f"0000{text}-0000-1000-8000-00805f9b34fb"
    if not _UUID.match(text):
        raise ProfileError(
            f"{where} = {value!r} is not a UUID (128-bit 8-4-4-4-12 hex, or 16-bit 'ffe0')"
        )
    return text


def _hex(where: str, value: str) -> bytes:
    if not _HEX.match(value):
        raise ProfileError(f"{where} = {value!r} must be hex digits in pairs, e.g. '0167'")
    return bytes.fromhex(value)


def _match(profile: str, table: _Table) -> MatchRule:
    table.known({"names", "services", "manufacturer", "service_data"})
    names = table.get("names", list, [])
    if not all(isinstance(n, str) and n for n in names):
        raise ProfileError(f"{table._name('names')} must list non-empty name patterns")
    services = table.get("services", list, [])
    manufacturer = []
    for entry in table.tables("manufacturer"):
        entry.known({"company_id", "prefix"})
        prefix = _hex(entry._name("prefix"), entry.text("prefix", ""))
        manufacturer.append(DataPrefix(entry.integer("company_id", 0, 0xFFFF), prefix))
    service_data = []
    for entry in table.tables("service_data"):
        entry.known({"uuid", "prefix"})
        prefix = _hex(entry._name("prefix"), entry.text("prefix", ""))
        service_data.append(DataPrefix(entry.uuid("uuid"), prefix))
    rule = MatchRule(
        names=tuple(names),
        services=tuple(_uuid(table._name("services"), str(s)) for s in services),
        manufacturer=tuple(manufacturer),
        service_data=tuple(service_data),
    )
    if not rule.weight:
        raise ProfileError(f"profile {profile}: {table.where} has no condition to match on")
    return rule


def _device(profile: str, self_describing: bool, table: _Table) -> ProfileCapabilities:
    table.known(
        {"model", "intensity_steps", "watchdog_s", "min_gap_s", "auto_off_default_s",
         "auto_off_max_s", "battery_mah", "button", "electrical", "zones", "modes", "heat"}
    )  # fmt: skip
    zones = []
    for entry in table.tables("zones"):
        entry.known({"name", "position", "device_zone"})
        position = entry.text("position")
        if position not in ZonePosition.__members__:
            raise ProfileError(
                f"{entry._name('position')} = {position!r}; accepted: "
                f"{', '.join(ZonePosition.__members__)}"
            )
        zones.append(
            ZoneSpec(
                entry.text("name"), ZonePosition[position], entry.integer("device_zone", 0, 255, 0)
            )
        )
    if not 1 <= len(zones) <= 8:
        raise ProfileError(f"profile {profile}: device.zones must list 1..8 zones")
    modes = []
    for entry in table.tables("modes"):
        entry.known({"value", "name", "waveform", "period_s"})
        waveform = entry.text("waveform")
        if waveform not in {w.value for w in Waveform}:
            raise ProfileError(
                f"{entry._name('waveform')} = {waveform!r}; accepted: "
                f"{', '.join(w.value for w in Waveform)}"
            )
        period = entry.number("period_s", 0.0, 60.0, 0.0)
        if waveform != "constant" and period <= 0:
            raise ProfileError(f"{entry._name('period_s')} must be > 0 for a {waveform} mode")
        modes.append(
            ModeSpec(entry.integer("value", 0, 255), entry.text("name"), Waveform(waveform), period)
        )
    if not self_describing and not modes:
        raise ProfileError(f"profile {profile}: device.modes must list at least one mode")
    heat_levels: list[HeatLevel] = []
    limit: float | None = None
    if "heat" in table.data:
        heat = _Table(profile, "device.heat", table.data["heat"])
        heat.known({"limit_c", "levels"})
        limit = heat.number("limit_c", 30.0, 60.0)
        for entry in heat.tables("levels"):
            entry.known({"value", "temperature_c"})
            temperature = entry.number("temperature_c", 20.0, limit)
            heat_levels.append(HeatLevel(entry.integer("value", 0, 255), temperature))
        if not heat_levels:
            raise ProfileError(f"profile {profile}: device.heat.levels must list 1+ levels")
    auto_off_max = table.integer("auto_off_max_s", 1, 0xFFFF)
    return ProfileCapabilities(
        model=table.text("model"),
        zones=tuple(zones),
        intensity_steps=table.integer("intensity_steps", 1, 255),
        modes=tuple(modes),
        heat_levels=tuple(heat_levels),
        heat_limit_c=limit,
        battery_mah=table.integer("battery_mah", 1, 0xFFFF, None),
        watchdog_s=table.number("watchdog_s", 0.5, 3600.0),
        min_gap_s=table.number("min_gap_s", 0.0, 10.0, 0.0),
        auto_off_default_s=table.integer("auto_off_default_s", 1, auto_off_max),
        auto_off_max_s=auto_off_max,
        button=table.get("button", bool, False),
        electrical=table.get("electrical", bool, False),
    )


def parse_profile(profile_id: str, data: dict[str, Any], source: str = "") -> DeviceProfile:
    """A :class:`DeviceProfile` from the parsed TOML of a profile file."""
    if not _ID.match(profile_id):
        raise ProfileError(
            f"profile id {profile_id!r} must be lower-case letters, digits, '-' and '_'"
        )
    top = _Table(profile_id, "", data)
    top.known({"name", "protocol", "match", "gatt", "serial", "device", "options"})
    protocol = top.text("protocol")
    spec = find_protocol(protocol)
    if spec is None:
        raise ProfileError(
            f"profile {profile_id}: protocol = {protocol!r}; accepted: "
            f"{', '.join(protocol_names())}"
        )
    rules = tuple(_match(profile_id, t) for t in top.tables("match"))
    if not rules:
        raise ProfileError(f"profile {profile_id}: needs at least one [[match]] rule")
    gatt = None
    if "gatt" in data:
        g = _Table(profile_id, "gatt", data["gatt"])
        g.known({"service", "write", "notify", "battery", "mtu"})
        gatt = GattEndpoints(
            service=g.uuid("service"),
            write=g.uuid("write"),
            notify=g.uuid("notify"),
            battery=g.uuid("battery", None),
            mtu=g.integer("mtu", 23, 517, None),
        )
    serial = None
    if "serial" in data:
        s = _Table(profile_id, "serial", data["serial"])
        s.known({"baud", "bytesize", "parity", "stopbits"})
        parity = s.text("parity", "N")
        if parity not in ("N", "E", "O"):
            raise ProfileError(f"{s._name('parity')} = {parity!r}; accepted: N, E, O")
        serial = SerialParameters(
            baud=s.integer("baud", 300, 4_000_000, 115200),
            bytesize=s.integer("bytesize", 5, 8, 8),
            parity=parity,
            stopbits=s.integer("stopbits", 1, 2, 1),
        )
    device = None
    if "device" in data:
        device = _device(
            profile_id, spec.self_describing, _Table(profile_id, "device", data["device"])
        )
    elif not spec.self_describing:
        raise ProfileError(
            f"profile {profile_id}: protocol {protocol} has no INFO message, "
            "so the profile needs a [device] table of capabilities"
        )
    return DeviceProfile(
        id=profile_id,
        name=top.text("name"),
        protocol=protocol,
        match=rules,
        gatt=gatt,
        serial=serial,
        device=device,
        options=dict(top.get("options", dict, {})),
        source=source,
    )


def load_profile_file(path: str | os.PathLike[str]) -> DeviceProfile:
    """Load one profile file; its id is the file name without ``.toml``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"cannot read profile file {str(file)!r}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {file.stem}: not valid TOML: {exc}") from None
    return parse_profile(file.stem, data, str(file))


def builtin_profiles() -> dict[str, DeviceProfile]:
    """The profiles shipped with the SDK and with the registered protocols, by id."""
    found: dict[str, DeviceProfile] = {}
    folders = [resources.files(__package__).joinpath("builtin")]
    for name in protocol_names():
        spec = find_protocol(name)
        folders.extend(spec.profiles if spec is not None else ())
    for folder in folders:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".toml"):
                profile_id = entry.name.removesuffix(".toml")
                data = tomllib.loads(entry.read_text(encoding="utf-8"))
                found.setdefault(
                    profile_id, parse_profile(profile_id, data, f"builtin:{entry.name}")
                )
    return found


def all_profiles(user_dir: str | os.PathLike[str] | None = None) -> dict[str, DeviceProfile]:
    """Built-in profiles, with the user's added or replacing them by id."""
    profiles = builtin_profiles()
    folder = Path(user_dir) if user_dir is not None else user_profiles_dir()
    if folder.is_dir():
        for file in sorted(folder.glob("*.toml")):
            profiles[file.stem] = load_profile_file(file)
    return profiles


def get_profile(
    name: str | os.PathLike[str], user_dir: str | os.PathLike[str] | None = None
) -> DeviceProfile:
    """A profile by id (the file name without ``.toml``) or by path to a ``.toml`` file."""
    text = os.fspath(name)
    if text.endswith(".toml"):
        return load_profile_file(text)
    profiles = all_profiles(user_dir)
    try:
        return profiles[text]
    except KeyError:
        raise ProfileError(
            f"unknown device profile {text!r}; known: {', '.join(sorted(profiles))} "
            "(or a path to a .toml profile file)"
        ) from None


def __getattr__(name: str) -> Any:
    if name == "PROTOCOLS":
        warnings.warn(
            "massager_sdk.profiles.PROTOCOLS is deprecated: use "
            "massager_sdk.protocols.protocol_names()",
            DeprecationWarning,
            stacklevel=2,
        )
        return protocol_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
