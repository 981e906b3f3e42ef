"""Transports: how bytes reach a device, chosen by the device URL's scheme.

Built in: ``sim://[MODEL]`` (the embedded simulator, the default),
``serial:///dev/ttyUSB0?baud=115200``, ``tcp://HOST:PORT`` and
``ble://AA:BB:CC:DD:EE:FF`` or ``ble://NAME``.

A third party adds a scheme with an entry point in the group
``massager_sdk.transports`` (name: the scheme, value: ``module:TransportClass``),
or at run time with :func:`register_transport`. Entry points are only read when
a URL names a scheme that is not built in.

A protocol that runs in a secure channel adds ``CHANNEL+LINK://...`` URLs over
every link scheme by its registration alone
(:mod:`massager_sdk.protocols.registry`): no transport is registered for them.
:func:`url_schemes` and :func:`accepted_forms` are the one list of what a device
URL may start with, for URL parsing, configuration checks and error messages.

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
    "url_schemes",
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


def _link_forms() -> list[str]:
    _read_entry_points()
    forms = list(_BUILTIN_FORMS)
    for scheme, transport in sorted(_registry.items()):
        if scheme in _BUILTIN:
            continue
        if isinstance(transport, type):
            forms.extend(transport.url_forms)
        else:
            forms.append(f"{scheme}://...")
    return forms


def _channels() -> dict[str, str]:
    """``CHANNEL+LINK`` schemes of the registered protocols' channels: scheme -> protocol."""
    # Loaded here: the protocols sit a layer above the transports they wrap.
    from massager_sdk.protocols.registry import channel_schemes

    _read_entry_points()
    return {k: spec.name for k, spec in channel_schemes(sorted(_registry)).items()}


def url_schemes() -> tuple[str, ...]:
    """Every scheme a device URL may have: the transports' links, and each registered
    protocol's secure channel over each of them (``tuya+ble``)."""
    _read_entry_points()
    return (*sorted(_registry), *_channels())


def accepted_forms() -> tuple[str, ...]:
    """Every URL form accepted (the transports', then the secure channels' over them),
    for help and error messages."""
    forms = _link_forms()
    prefixes = sorted({scheme.partition("+")[0] for scheme in _channels()})
    links = list(forms)
    for prefix in prefixes:
        forms.extend(f"{prefix}+{form}" for form in links)
    return tuple(dict.fromkeys(forms))


def _unknown_scheme(scheme: str, url: str | None) -> BadURLError:
    where = f"bad device URL {url!r}: " if url is not None else ""
    return BadURLError(
        f"{where}no transport for the URL scheme {scheme!r}; "
        f"accepted forms: {', '.join(accepted_forms())}"
    )


def transport_class(scheme: str, url: str | None = None) -> type[Transport]:
    """The transport class serving the link ``scheme``; ``BadURLError`` if none does
    (a secure channel's ``CHANNEL+LINK`` scheme is served by :func:`open_transport`)."""
    key = scheme.lower()
    if key not in _registry:
        _read_entry_points()
    try:
        target = _registry[key]
    except KeyError:
        raise _unknown_scheme(scheme, url) from None
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        loaded = getattr(importlib.import_module(module_name), attr)
        if not (isinstance(loaded, type) and issubclass(loaded, Transport)):
            raise TypeError(f"{target} (for {scheme}://) is not a Transport subclass")
        _registry[key] = target = loaded
    return target


def open_transport(url: str | None = None, **options: Any) -> Transport:
    """A transport for ``url`` (default ``sim://``), not yet connected.

    A ``CHANNEL+LINK://...`` URL is a registered protocol's secure channel over the
    link (:func:`massager_sdk.protocols.registry.open_channel_url`). Raises
    :class:`BadURLError` for a malformed URL or an unknown scheme, and
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
    key = parsed.scheme.lower()
    if key not in _registry:
        _read_entry_points()
    if key not in _registry and key in _channels():
        from massager_sdk.protocols.registry import open_channel_url

        return open_channel_url(text, **options)
    return transport_class(parsed.scheme, url).from_url(url, parsed, **options)
