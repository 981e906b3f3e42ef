"""The bridge's configuration: a TOML file, command-line options, or both.

A file looks like this (every field but ``broker.url`` and ``devices[].url``
is optional)::

    [broker]
    url = "mqtt://user:secret@192.168.1.10:1883"   # or mqtts://host:8883
    ca_file = "/etc/ssl/certs/my-ca.pem"           # mqtts only
    client_id = "massager-bridge-lounge"

    [bridge]
    id = "lounge"                  # its own state topic: massager/bridge/lounge/state
    base_topic = "massager"
    discovery_prefix = "homeassistant"
    id_prefix = "lounge_"          # device ids derived from serials get this prefix
    programs = "/etc/massager/programs"   # user programs (*.toml), offered beside the built-ins

    [[devices]]
    id = "sofa"                    # optional: derived from the serial otherwise
    name = "Sofa massager"
    url = "ble://AA:BB:CC:DD:EE:FF"
    health_profile = "/etc/massager/anna.toml"   # whose health profile (default: the bridge's)
    key = "3f2a..."                # NMP/1 authenticated mode: the device's key (64 hex digits)

    [devices.limits]               # safer than the defaults only
    heat_max_c = 40.0
    auto_off_s = 600

Errors (:class:`ConfigError`) name the file and the field, and say what is accepted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import re
import socket
import tomllib
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from massager_protocols.nmp.auth import parse_key

from massager_sdk.errors import MassagerError
from massager_sdk.keys import remember
from massager_sdk.mqtt.topics import Topics, check_id, check_topic_prefix, slug
from massager_sdk.programs import Program
from massager_sdk.safety.limits import SafetyLimits
from massager_sdk.safety.screening import HealthProfile

_log = logging.getLogger("massager_sdk.mqtt")

BROKER_FORMS = "mqtt://[USER:PASSWORD@]HOST[:PORT] or mqtts://[USER:PASSWORD@]HOST[:PORT]"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class ConfigError(MassagerError, ValueError):
    """A bridge configuration that cannot be used; says where and what is accepted."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None) -> None:
        self.file = file
        self.field = field
        where = ": ".join(part for part in (file, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Where the broker is and how to log in."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    client_id: str | None = None

    def url(self, *, with_password: bool = False) -> str:
        """The broker URL (the password masked unless asked for)."""
        scheme = "mqtts" if self.tls else "mqtt"
        auth = ""
        if self.username is not None:
            auth = urllib.parse.quote(self.username, safe="")
            if self.password is not None:
                secret = urllib.parse.quote(self.password, safe="") if with_password else "***"
                auth += f":{secret}"
            auth += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{auth}{host}:{self.port}"


def parse_broker_url(url: str) -> BrokerConfig:
    """A :class:`BrokerConfig` from ``mqtt://[user:pass@]host[:port]`` (or ``mqtts://``).

    Raises ``ValueError`` naming the accepted forms.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(f"bad broker URL {url!r}; accepted forms: {BROKER_FORMS}")
    parts = urllib.parse.urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(
            f"bad broker URL {url!r}: scheme {parts.scheme!r} is not mqtt or mqtts; "
            f"accepted forms: {BROKER_FORMS}"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError(
            f"bad broker URL {url!r}: the port must be a number 1-65535; "
            f"accepted forms: {BROKER_FORMS}"
        ) from None
    if not parts.hostname:
        raise ValueError(f"bad broker URL {url!r}: no host; accepted forms: {BROKER_FORMS}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            f"bad broker URL {url!r}: no path, query or fragment is accepted; "
            f"accepted forms: {BROKER_FORMS}"
        )
    if port == 0:
        raise ValueError(f"bad broker URL {url!r}: port 0; the port must be 1-65535")
    return BrokerConfig(
        host=parts.hostname,
        port=port or DEFAULT_PORTS[scheme],
        tls=scheme == "mqtts",
        username=urllib.parse.unquote(parts.username) if parts.username is not None else None,
        password=urllib.parse.unquote(parts.password) if parts.password is not None else None,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceConfig:
    """One device the bridge serves."""

    url: str
    id: str | None = None  #: ``None``: ``id_prefix`` + the device's serial, as a slug
    name: str | None = None  #: ``None``: the model and the id
    #: The health profile of whoever uses this device (``None``: the bridge's).
    health_profile: HealthProfile | None = None
    #: Limits for this device, safer than the defaults only (``None``: the defaults).
    limits: SafetyLimits | None = None
    #: The key of a device in NMP/1 authenticated mode (``None``: the user's key store).
    key: bytes | None = dataclasses.field(default=None, repr=False)

    def connect_options(self) -> dict[str, Any]:
        """What this entry adds to :func:`massager_sdk.connect`'s options (its key, if
        any, is made known to this process's key store instead: it never travels in
        options that may be logged)."""
        if self.key is not None:
            remember(self.key)
        options: dict[str, Any] = {}
        if self.health_profile is not None:
            options["health_profile"] = self.health_profile
        if self.limits is not None:
            options["limits"] = self.limits
        return options


@dataclasses.dataclass(frozen=True, slots=True)
class BridgeConfig:
    """Everything a :class:`~massager_sdk.mqtt.Bridge` needs."""

    broker: BrokerConfig
    devices: tuple[DeviceConfig, ...] = ()
    bridge_id: str | None = None
    base_topic: str = "massager"
    discovery_prefix: str = "homeassistant"
    id_prefix: str = ""
    discovery: bool = True  #: publish Home Assistant discovery
    telemetry_interval_s: float = 5.0  #: most frequent state update for slow fields only
    reconnect_max_s: float = 30.0  #: ceiling of the broker and device reconnect backoff
    max_payload: int = 4096  #: bytes; larger commands are refused
    #: A folder of user program files (``*.toml``), offered beside the built-in programs.
    programs_dir: str | None = None

    @property
    def topics(self) -> Topics:
        """The topic layout these settings give."""
        return Topics(self.base_topic, self.bridge_id, self.discovery_prefix)

    @property
    def client_id(self) -> str:
        """The MQTT client id: configured, or derived from the bridge id or the host name."""
        if self.broker.client_id:
            return self.broker.client_id
        return f"massager-bridge-{self.bridge_id or slug(socket.gethostname()) or 'host'}"

    def device_id(self, device: DeviceConfig, serial: str) -> str:
        """The id of ``device``: configured, or ``id_prefix`` + the serial's slug.

        A device that reports no serial (Tuya, yh) gets one derived from its URL.
        """
        if device.id is not None:
            return device.id
        if not slug(serial):
            return url_id(device.url, self.id_prefix)
        return check_id(f"{self.id_prefix}{slug(serial)}", f"device id derived from {serial!r}")


def url_id(url: str, prefix: str = "") -> str:
    """A stable device id from a device URL: the BLE address, or the URL as a slug.

    ``ble://AA:BB:CC:DD:EE:FF`` gives ``aabbccddeeff``; ``sim://tuya-neck`` gives
    ``sim_tuya_neck``; a slug longer than an id may be is cut and given a hash.
    """
    parts = urllib.parse.urlsplit(url)
    address = urllib.parse.unquote(parts.netloc)
    if parts.scheme.lower() == "ble" and _MAC.match(address):
        text = address.replace(":", "").lower()
    else:
        text = slug(url)
    text = f"{prefix}{text}"
    if len(text) > 64:
        digest = hashlib.sha256(url.encode()).hexdigest()[:8]
        text = f"{text[:55].rstrip('_-')}_{digest}"
    return check_id(text, f"device id derived from {url!r}")


_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


# --------------------------------------------------------------------------
# Reading a file
# --------------------------------------------------------------------------

_SECTIONS = {"broker", "bridge", "devices"}
_BROKER_KEYS = {"url", "ca_file", "client_id", "username", "password"}
_BRIDGE_KEYS = {
    "id",
    "base_topic",
    "discovery_prefix",
    "id_prefix",
    "discovery",
    "telemetry_interval",
    "reconnect_max",
    "max_payload",
    "programs",
}
_DEVICE_KEYS = {"url", "id", "name", "health_profile", "limits", "key"}


class _Reader:
    """Checked access to the tables of one file; errors carry the file and field."""

    def __init__(self, file: str | None) -> None:
        self.file = file

    def fail(self, field: str, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, field=field)

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(key, f"must be a table ([{key}]), got {type(value).__name__}")
        return value

    def unknown(self, data: Mapping[str, Any], known: set[str], where: str) -> None:
        for key in data:
            if key not in known:
                field = f"{where}.{key}" if where else key
                raise self.fail(field, f"unknown field; accepted: {', '.join(sorted(known))}")

    def text(self, data: Mapping[str, Any], key: str, where: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key}", f"must be a non-empty string, got {value!r}")
        return value

    def number(
        self, data: Mapping[str, Any], key: str, where: str, low: float, high: float
    ) -> float | None:
        value = data.get(key)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.fail(f"{where}.{key}", f"must be a number {low:g}..{high:g}, got {value!r}")
        if not low <= value <= high:
            raise self.fail(f"{where}.{key}", f"{value!r} is out of range {low:g}..{high:g}")
        return float(value)

    def checked(self, field: str, check: Any, value: Any, *args: Any) -> Any:
        try:
            return check(value, *args)
        except ValueError as exc:
            raise self.fail(field, str(exc)) from None


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    broker: str | None = None,
    devices: Sequence[str] = (),
    bridge_id: str | None = None,
    base_topic: str | None = None,
    discovery_prefix: str | None = None,
    client_id: str | None = None,
    ca_file: str | None = None,
    id_prefix: str | None = None,
) -> BridgeConfig:
    """The configuration from a TOML file and/or options; options win over the file.

    ``devices`` are extra device URLs (their ids come from their serials).
    Raises :class:`ConfigError` naming the file, the field and what is accepted.
    """
    data: Mapping[str, Any] = {}
    file = None
    if path is not None:
        file = os.fspath(path)
        try:
            data = tomllib.loads(Path(file).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("no such file", file=file) from None
        except OSError as exc:
            raise ConfigError(f"cannot read it: {exc.strerror or exc}", file=file) from None
        except UnicodeDecodeError:
            raise ConfigError("not UTF-8 text; a bridge config is a TOML file", file=file) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", file=file) from None
    return config_from_mapping(
        data,
        file=file,
        broker=broker,
        devices=devices,
        bridge_id=bridge_id,
        base_topic=base_topic,
        discovery_prefix=discovery_prefix,
        client_id=client_id,
        ca_file=ca_file,
        id_prefix=id_prefix,
    )


def config_from_mapping(
    data: Mapping[str, Any],
    *,
    file: str | None = None,
    broker: str | None = None,
    devices: Sequence[str] = (),
    bridge_id: str | None = None,
    base_topic: str | None = None,
    discovery_prefix: str | None = None,
    client_id: str | None = None,
    ca_file: str | None = None,
    id_prefix: str | None = None,
) -> BridgeConfig:
    """Like :func:`load_config`, from already parsed TOML data."""
    r = _Reader(file)
    r.unknown(data, _SECTIONS, "")
    b = r.table(data, "broker")
    r.unknown(b, _BROKER_KEYS, "broker")
    g = r.table(data, "bridge")
    r.unknown(g, _BRIDGE_KEYS, "bridge")

    # -- broker ---------------------------------------------------------------
    url = broker if broker is not None else r.text(b, "url", "broker")
    if url is None:
        raise ConfigError(
            f"no broker: give --broker URL or broker.url in the config file ({BROKER_FORMS})",
            file=file,
            field="broker.url" if file is not None else None,
        )
    field = "--broker" if broker is not None else "broker.url"
    parsed: BrokerConfig = r.checked(field, parse_broker_url, url)
    username = r.text(b, "username", "broker")
    password = r.text(b, "password", "broker")
    if username is not None:
        parsed = dataclasses.replace(parsed, username=username)
    if password is not None:
        parsed = dataclasses.replace(parsed, password=password)
    ca = ca_file if ca_file is not None else r.text(b, "ca_file", "broker")
    if ca is not None:
        ca_field = "--ca-file" if ca_file is not None else "broker.ca_file"
        if not parsed.tls:
            raise r.fail(ca_field, "a CA file needs an mqtts:// broker URL")
        if not Path(ca).is_file():
            raise r.fail(ca_field, f"no such file {ca!r} (a PEM file of CA certificates)")
    cid = client_id if client_id is not None else r.text(b, "client_id", "broker")
    if cid is not None and (len(cid) > 128 or not cid.isprintable()):
        raise r.fail("broker.client_id", "must be 1-128 printable characters")
    parsed = dataclasses.replace(parsed, ca_file=ca, client_id=cid)

    # -- bridge ---------------------------------------------------------------
    bid = bridge_id if bridge_id is not None else r.text(g, "id", "bridge")
    if bid is not None:
        r.checked(
            "--bridge-id" if bridge_id is not None else "bridge.id", check_id, bid, "bridge id"
        )
    base = base_topic if base_topic is not None else r.text(g, "base_topic", "bridge")
    base = base or "massager"
    r.checked("bridge.base_topic", check_topic_prefix, base, "base topic")
    prefix = (
        discovery_prefix
        if discovery_prefix is not None
        else r.text(g, "discovery_prefix", "bridge")
    )
    prefix = prefix or "homeassistant"
    r.checked("bridge.discovery_prefix", check_topic_prefix, prefix, "discovery prefix")
    idp = id_prefix if id_prefix is not None else (g.get("id_prefix") or "")
    if not isinstance(idp, str):
        raise r.fail("bridge.id_prefix", f"must be a string, got {type(idp).__name__}")
    if idp:
        r.checked("bridge.id_prefix", check_id, f"{idp}x", "id prefix + serial")
    discovery = g.get("discovery", True)
    if not isinstance(discovery, bool):
        raise r.fail("bridge.discovery", f"must be true or false, got {discovery!r}")
    telemetry = r.number(g, "telemetry_interval", "bridge", 0.1, 3600)
    backoff = r.number(g, "reconnect_max", "bridge", 1, 3600)
    max_payload = r.number(g, "max_payload", "bridge", 256, 1 << 20)
    programs_dir = r.text(g, "programs", "bridge")
    if programs_dir is not None:
        programs_dir = os.path.expanduser(programs_dir)
        if not Path(programs_dir).is_dir():
            raise r.fail("bridge.programs", f"no such folder {programs_dir!r} (of *.toml programs)")

    # -- devices --------------------------------------------------------------
    raw = data.get("devices", [])
    if not isinstance(raw, list):
        raise r.fail("devices", "must be an array of tables ([[devices]])")
    out: list[DeviceConfig] = []
    for i, entry in enumerate(raw, start=1):  # counted from 1, as program errors are
        where = f"devices[{i}]"
        if not isinstance(entry, Mapping):
            raise r.fail(
                where,
                "must be a table with url, and optionally id, name, health_profile, limits and key",
            )
        # "profile" is the old name of health_profile: accepted (with a warning), not listed.
        r.unknown({k: v for k, v in entry.items() if k != "profile"}, _DEVICE_KEYS, where)
        durl = r.text(entry, "url", where)
        if durl is None:
            raise r.fail(f"{where}.url", 'missing; e.g. url = "ble://AA:BB:CC:DD:EE:FF"')
        r.checked(f"{where}.url", check_device_url, durl)
        did = r.text(entry, "id", where)
        if did is not None:
            r.checked(f"{where}.id", check_id, did, "device id")
        name = r.text(entry, "name", where)
        if name is not None and len(name) > 64:
            raise r.fail(f"{where}.name", "at most 64 characters")
        key_name = "health_profile"
        if "profile" in entry:  # the old name, kept for a release
            if "health_profile" in entry:
                raise r.fail(f"{where}.profile", "health_profile only (profile is its old name)")
            key_name = "profile"
            _log.warning("%s.profile is deprecated: name it health_profile", where)
        profile_path = r.text(entry, key_name, where)
        profile = None
        if profile_path is not None:
            profile_path = os.path.expanduser(profile_path)
            profile = r.checked(f"{where}.{key_name}", _acknowledged_profile, profile_path)
        limits = None
        if "limits" in entry:
            table = entry["limits"]
            if not isinstance(table, Mapping):
                raise r.fail(f"{where}.limits", "must be a table ([devices.limits])")
            limits = r.checked(f"{where}.limits", SafetyLimits.from_mapping, table, "limits")
        key_text = r.text(entry, "key", where)
        key = None if key_text is None else r.checked(f"{where}.key", parse_key, key_text)
        out.append(
            DeviceConfig(
                url=durl, id=did, name=name, health_profile=profile, limits=limits, key=key
            )
        )
    for durl in devices:
        r.checked("--device", check_device_url, durl)
        out.append(DeviceConfig(url=durl))
    seen: dict[str, int] = {}
    for i, dev in enumerate(out, start=1):
        if dev.id is None:
            continue
        if dev.id in seen:
            raise r.fail(
                f"devices[{i}].id", f"{dev.id!r} is already the id of devices[{seen[dev.id]}]"
            )
        seen[dev.id] = i

    defaults = BridgeConfig(broker=parsed)
    return BridgeConfig(
        broker=parsed,
        devices=tuple(out),
        bridge_id=bid,
        base_topic=base,
        discovery_prefix=prefix,
        id_prefix=idp,
        discovery=discovery,
        telemetry_interval_s=telemetry if telemetry is not None else defaults.telemetry_interval_s,
        reconnect_max_s=backoff if backoff is not None else defaults.reconnect_max_s,
        max_payload=int(max_payload) if max_payload is not None else defaults.max_payload,
        programs_dir=programs_dir,
    )


def load_user_programs(folder: str) -> dict[str, Program]:
    """Every ``*.toml`` program in ``folder``, by name, each validated.

    Raises :class:`ConfigError` naming the file and every problem: a program
    that does not validate, a name used twice, or a name a built-in program, the
    word ``none`` or the Program select's ``(no program)`` already has.
    """
    from massager_sdk.mqtt.commands import NO_PROGRAM, NO_PROGRAM_OPTION
    from massager_sdk.programs import ProgramError, builtin_names, validate_file

    taken = {name: "a built-in program" for name in builtin_names()}
    taken[NO_PROGRAM] = taken[NO_PROGRAM_OPTION] = "reserved for 'no program'"
    out: dict[str, Program] = {}
    for path in sorted(Path(folder).glob("*.toml")):
        try:
            program = validate_file(path)
        except ProgramError as exc:
            raise ConfigError(str(exc), file=str(path)) from None
        clash = taken.get(program.name)
        if clash is None and program.name.strip().lower() == NO_PROGRAM:
            clash = "reserved for 'no program'"
        if clash is not None:
            raise ConfigError(
                f"program name {program.name!r} is {clash}; give the program another name",
                file=str(path),
                field="name",
            )
        taken[program.name] = f"the name of {path}"
        out[program.name] = program
    return out


def _acknowledged_profile(path: str) -> HealthProfile:
    """The acknowledged health profile at ``path``; ``ValueError`` says what is wrong."""
    from massager_sdk.safety.profile import profile_status

    status = profile_status(path)
    if status.state == "missing":
        raise ValueError(f"no health profile at {path} (see docs/safety.md, 'Health profile')")
    if status.state == "invalid":
        raise ValueError(status.error or f"{path} is not a valid health profile")
    if status.state == "unacknowledged" or status.profile is None:
        raise ValueError(
            f"{path} is not acknowledged; run `massager health acknowledge --health-profile "
            f"{path}` after reading docs/safety.md (a service cannot ask)"
        )
    return status.profile


def check_device_url(url: str) -> str:
    """``url`` if ``connect()`` takes its scheme (a transport's, or a registered
    protocol's secure channel over one); the rest is checked on connecting.

    Raises ``ValueError`` naming the accepted forms. No transport is imported.
    """
    from massager_sdk.transports import accepted_forms, url_schemes

    if "://" not in url or url.split("://", 1)[0].lower() not in url_schemes():
        raise ValueError(f"bad device URL {url!r}; accepted forms: {', '.join(accepted_forms())}")
    return url
