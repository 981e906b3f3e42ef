"""The user's device file: names, allow and deny lists, safer limits, credentials.

``$MASSAGER_DEVICES`` or ``<config>/massager/devices.toml``::

    allow = ["C0:FF:EE:*"]          # when given, only matching devices are used
    deny = ["AA:BB:CC:DD:EE:FF"]    # never these (deny wins over allow)

    [devices."C0:FF:EE:00:00:01"]   # by address, BLE name or URL (wildcards allowed)
    name = "Bedroom massager"       # display name (cosmetic)
    profile = "my-ems"              # which profile it is, when it cannot be recognised
    max_intensity = 8               # a lower cap than the device's steps
    heat = false                    # never heat, even if the device can
    local_key = "..."               # credentials its protocol needs (each protocol's
    device_id = "..."               # registration names them and says how to get them)
    uuid = "..."

Overrides can only make a device safer or change how it is shown: a cap above
the device's steps, or ``heat = true``, is refused with an error that says so.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.profiles.loader import ProfileError, config_dir
from massager_sdk.protocols.registry import all_protocols

#: Environment variable naming the device file.
DEVICES_ENV = "MASSAGER_DEVICES"


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceOverride:
    """What the user set for one device (or a pattern of devices)."""

    pattern: str
    name: str | None = None
    profile: str | None = None
    max_intensity: int | None = None
    heat: bool | None = None  #: ``False`` disables the heater; ``True`` is refused
    #: Credentials for the device's protocol, by the names its registration gives.
    credentials: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def apply(self, caps: DeviceCapabilities) -> DeviceCapabilities:
        """``caps`` made safer as this override asks; ``ProfileError`` if it asks for more."""
        if self.max_intensity is not None:
            if self.max_intensity > caps.intensity_steps:
                raise ProfileError(
                    f"devices.toml: {self.pattern}: max_intensity = {self.max_intensity} is "
                    f"above the {caps.intensity_steps} steps of {caps.model}; an override may "
                    "only lower it"
                )
            caps = dataclasses.replace(caps, intensity_steps=self.max_intensity)
        if self.heat is False:
            caps = dataclasses.replace(caps, heat=None)
        return caps


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceFile:
    """The whole device file."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    devices: tuple[DeviceOverride, ...] = ()
    path: str = ""

    def allowed(self, *keys: str) -> bool:
        """Whether a device known by any of ``keys`` (address, name, URL) may be used."""
        keys = tuple(k for k in keys if k)
        if self.denied(*keys):
            return False
        return not self.allow or any(_fits(p, k) for p in self.allow for k in keys)

    def denied(self, *keys: str) -> bool:
        """Whether the deny list names a device known by any of ``keys``."""
        return any(_fits(p, k) for p in self.deny for k in keys if k)

    def override(self, *keys: str) -> DeviceOverride | None:
        """The first entry matching any of ``keys``, exact patterns before wildcards."""
        keys = tuple(k for k in keys if k)
        ordered = sorted(self.devices, key=lambda d: any(c in d.pattern for c in "*?["))
        for entry in ordered:
            if any(_fits(entry.pattern, k) for k in keys):
                return entry
        return None


def _fits(pattern: str, key: str) -> bool:
    return fnmatch.fnmatchcase(key.upper(), pattern.upper())


def default_devices_path() -> Path:
    """Where the device file is read from."""
    explicit = os.environ.get(DEVICES_ENV)
    return Path(explicit).expanduser() if explicit else config_dir() / "devices.toml"


_FIELDS: dict[str, type] = {
    "name": str,
    "profile": str,
    "max_intensity": int,
    "heat": bool,
}


def _fields() -> dict[str, type]:
    """Every field of a device entry: the generic ones and each protocol's credentials."""
    fields = dict(_FIELDS)
    for spec in all_protocols().values():
        fields.update(dict.fromkeys(spec.credentials, str))
    return fields


def parse_devices(data: dict[str, Any], where: str = "devices.toml") -> DeviceFile:
    """A :class:`DeviceFile` from parsed TOML; ``ProfileError`` names a bad field."""
    extra = sorted(set(data) - {"allow", "deny", "devices"})
    if extra:
        raise ProfileError(
            f"{where}: unknown field(s) {', '.join(extra)}; accepted: allow, deny, devices"
        )
    lists = {}
    for key in ("allow", "deny"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ProfileError(f"{where}: {key} must list addresses, names or patterns")
        lists[key] = tuple(value)
    table = data.get("devices", {})
    if not isinstance(table, dict):
        raise ProfileError(f'{where}: devices must be a table of [devices."ADDRESS"] entries')
    entries = []
    for pattern, fields in table.items():
        if not isinstance(fields, dict):
            raise ProfileError(f"{where}: devices.{pattern!r} must be a table")
        accepted = _fields()
        unknown = sorted(set(fields) - set(accepted))
        if unknown:
            raise ProfileError(
                f"{where}: devices.{pattern!r}: unknown field(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(accepted)}"
            )
        for key, kind in accepted.items():
            value = fields.get(key)
            if value is not None and (
                not isinstance(value, kind) or isinstance(value, bool) != (kind is bool)
            ):
                raise ProfileError(
                    f"{where}: devices.{pattern!r}.{key} = {value!r} has the wrong type"
                )
        if fields.get("heat") is True:
            raise ProfileError(
                f"{where}: devices.{pattern!r}.heat = true: an override can only disable the "
                "heater (heat = false), never enable one"
            )
        cap = fields.get("max_intensity")
        if cap is not None and cap < 1:
            raise ProfileError(f"{where}: devices.{pattern!r}.max_intensity must be at least 1")
        generic = {k: v for k, v in fields.items() if k in _FIELDS}
        credentials = {k: v for k, v in fields.items() if k not in _FIELDS}
        entries.append(DeviceOverride(pattern=pattern, **generic, credentials=credentials))
    return DeviceFile(lists["allow"], lists["deny"], tuple(entries), where)


def load_devices(path: str | os.PathLike[str] | None = None) -> DeviceFile:
    """The device file (an empty one when it does not exist)."""
    file = Path(path) if path is not None else default_devices_path()
    if not file.is_file():
        return DeviceFile(path=str(file))
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{file}: not valid TOML: {exc}") from None
    return parse_devices(data, str(file))
