"""Transports: how bytes reach a device, chosen by the device URL's scheme.

Built in: ``sim://[MODEL]`` (the embedded simulator, the default),
``serial:///dev/ttyUSB0?baud=115200``, ``tcp://HOST:PORT`` and
``ble://AA:BB:CC:DD:EE:FF`` or ``ble://NAME``.

A third party adds a scheme with an entry point in the group
``massager_sdk.transports`` (name: the scheme, value: ``module:TransportClass``),
or at run time with :func:`register_transport`. Entry points are only read when
a URL names a scheme that is not built in.

A transport that can tell what is at the other end of its link before any
protocol is spoken (the simulator knows its model, a BLE device advertises)
also implements :class:`IdentifyingTransport`; the client then picks the wire
protocol and the device profile from what it says.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from massager_sdk.errors import BadURLError
from massager_sdk.transports.base import Transport, bad_url, split

if TYPE_CHECKING:
    from massager_sdk.profiles.model import DeviceProfile

__all__ = [
    "DEFAULT_URL",
    "ENTRY_POINT_GROUP",
    "Advertisement",
    "GattEndpoints",
    "IdentifyingTransport",
    "LinkIdentity",
    "Transport",
    "accepted_forms",
    "bad_url",
    "open_transport",
    "register_transport",
    "split",
    "transport_class",
]

#: The device used when no URL is given.
DEFAULT_URL = "sim://"
#: Entry point group for third-party transports.
ENTRY_POINT_GROUP = "massager_sdk.transports"

_BUILTIN: dict[str, str] = {
    "sim": "massager_sdk.transports.sim:SimTransport",
    "serial": "massager_sdk.transports.serialport:SerialTransport",
    "tcp": "massager_sdk.transports.tcp:TcpTransport",
    "ble": "massager_sdk.transports.ble:BleTransport",
}
#: Forms of the built-in URLs, without importing their modules (bleak is slow to load).
_BUILTIN_FORMS: tuple[str, ...] = (
    "sim://[MODEL]",
    "serial:///dev/ttyUSB0?baud=115200",
    "tcp://HOST:PORT",
    "ble://AA:BB:CC:DD:EE:FF",
    "ble://NAME",
)

_registry: dict[str, type[Transport] | str] = dict(_BUILTIN)


@dataclasses.dataclass(frozen=True, slots=True)
class GattEndpoints:
    """Where a device's bytes go over BLE."""

    service: str
    write: str
    notify: str
    battery: str | None = None  #: a readable Battery Level characteristic, if any
    mtu: int | None = None  #: the ATT MTU the device prefers, if it says


@dataclasses.dataclass(frozen=True, slots=True)
class Advertisement:
    """What a device advertises over BLE, as heard (or as a simulated one would)."""

    name: str = ""
    services: tuple[str, ...] = ()
    manufacturer_data: Mapping[int, bytes] = dataclasses.field(default_factory=dict)
    service_data: Mapping[str, bytes] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class LinkIdentity:
    """What a link knows of the device at its end before a protocol is spoken.

    A link reports what it heard (:attr:`advertisement`); the client matches it
    against the device profiles and the protocols' markers and fills in
    :attr:`profile`, :attr:`protocol`, :attr:`model` and :attr:`seen`.
    """

    protocol: str | None = None  #: the wire protocol the device speaks, when known
    profile: DeviceProfile | None = None  #: the device profile its advertisement matched
    model: str | None = None  #: the model, when the link names it
    #: Names the user's device file may know the device by (address, advertised name).
    keys: tuple[str, ...] = ()
    seen: str = ""  #: what was heard, in short (an advertisement's summary)
    #: Protocol settings the link knows (a simulated device's own credentials).
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    advertisement: Advertisement | None = None  #: what the device advertises, if heard


@runtime_checkable
class IdentifyingTransport(Protocol):
    """A transport that can say what device is at the other end before connecting."""

    async def identify(self) -> LinkIdentity:
        """Find the device (it may scan) and say what is known of it."""
        ...


_entry_points_read = False


def register_transport(scheme: str, transport: type[Transport] | str) -> None:
    """Serve URLs of ``scheme`` with ``transport`` (a class or ``"module:Class"``)."""
    if not scheme.isascii() or not scheme.replace("+", "").replace("-", "").isalnum():
        raise ValueError(f"{scheme!r} is not a URL scheme (letters, digits, + and - only)")
    _registry[scheme.lower()] = transport


def _read_entry_points() -> None:
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        # Built-ins and run-time registrations win over installed plug-ins.
        _registry.setdefault(entry.name.lower(), entry.value)


def accepted_forms() -> tuple[str, ...]:
    """Every URL form the installed transports accept, for error messages."""
    _read_entry_points()
    forms = list(_BUILTIN_FORMS)
    for scheme, transport in sorted(_registry.items()):
        if scheme in _BUILTIN:
            continue
        if isinstance(transport, type):
            forms.extend(transport.url_forms)
        else:
            forms.append(f"{scheme}://...")
    return tuple(forms)


def transport_class(scheme: str, url: str | None = None) -> type[Transport]:
    """The transport class serving ``scheme``; ``BadURLError`` if none does."""
    key = scheme.lower()
    if key not in _registry:
        _read_entry_points()
    try:
        target = _registry[key]
    except KeyError:
        where = f"bad device URL {url!r}: " if url is not None else ""
        raise BadURLError(
            f"{where}no transport for the URL scheme {scheme!r}; "
            f"accepted forms: {', '.join(accepted_forms())}"
        ) from None
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        loaded = getattr(importlib.import_module(module_name), attr)
        if not (isinstance(loaded, type) and issubclass(loaded, Transport)):
            raise TypeError(f"{target} (for {scheme}://) is not a Transport subclass")
        _registry[key] = target = loaded
    return target


def open_transport(url: str | None = None, **options: Any) -> Transport:
    """A transport for ``url`` (default ``sim://``), not yet connected.

    Raises :class:`BadURLError` for a malformed URL or an unknown scheme, and
    ``TypeError`` for an option the transport does not take.
    """
    url = DEFAULT_URL if url is None else url
    if not isinstance(url, str):
        raise BadURLError(
            f"a device URL must be a string, got {type(url).__name__}; "
            f"accepted forms: {', '.join(accepted_forms())}"
        )
    text = url.strip()
    if "://" not in text:
        raise BadURLError(
            f"bad device URL {url!r}: it has no scheme; accepted forms: "
            f"{', '.join(accepted_forms())}"
        )
    parsed = urllib.parse.urlsplit(text)
    return transport_class(parsed.scheme, url).from_url(url, parsed, **options)
