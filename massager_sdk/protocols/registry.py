"""One registration per wire protocol, read by every part that needs to know protocols.

A protocol is described once, by a :class:`ProtocolSpec`: its name, the
contract module in ``massager_protocols``, the host adapter factory, the
default device profile, the advertisement markers, the credentials it needs
and the secure channel it runs in, if any. Selection, profile loading and the
published profile schema, BLE discovery, URL parsing and the MQTT bridge all
read this registry; none of them names a protocol.

A protocol with a channel gets its URLs from this registration alone:
``CHANNEL+LINK://...`` for every link scheme the transports serve
(:func:`channel_schemes`), opened by :func:`open_channel_url` as the channel
over the link.

Where registrations come from, in order (the first of a name wins):

1. :func:`register_protocol` at run time (a test, an application);
2. the modules of this package: any module defining ``PROTOCOL`` (a
   :class:`ProtocolSpec`) registers it, so a built-in protocol is one file;
3. the entry point group ``massager_sdk.protocols`` of installed packages
   (name: the protocol, value: ``module:ATTRIBUTE`` naming its
   :class:`ProtocolSpec`), read the first time a name is looked up that is not
   known otherwise, or when every protocol is listed.

See ``docs/adding-a-protocol.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.metadata
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from massager_sdk.errors import MassagerError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from massager_sdk.profiles.model import DeviceProfile
    from massager_sdk.protocols.base import ProtocolAdapter
    from massager_sdk.transports.base import Transport

#: Entry point group of third-party protocols.
ENTRY_POINT_GROUP = "massager_sdk.protocols"


class MissingCredentials(MassagerError, ValueError):
    """A device whose protocol needs credentials was asked for without them."""


@dataclasses.dataclass(frozen=True, slots=True)
class Markers:
    """What in an advertisement says a device speaks a protocol, whatever its model."""

    company_ids: frozenset[int] = frozenset()  #: manufacturer data company identifiers
    service_uuids: frozenset[str] = frozenset()  #: advertised services, or service data keys

    def seen_in(
        self,
        manufacturer: Mapping[int, bytes],
        services: Iterable[str],
        service_data: Mapping[str, bytes],
    ) -> bool:
        """Whether an advertisement with these fields carries one of the markers."""
        uuids = {s.lower() for s in services} | {k.lower() for k in service_data}
        return bool(self.company_ids.intersection(manufacturer)) or bool(
            self.service_uuids.intersection(uuids)
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Channel:
    """A secure channel the protocol runs in, wrapping the link (pairing, then every
    message encrypted), named in URLs as ``SCHEME+LINK://...``."""

    scheme: str  #: the URL prefix before ``+`` (``secure`` in ``secure+ble://...``)
    #: ``wrap(link, settings, where)``: the channel over ``link``; ``settings`` holds every
    #: credential the protocol needs and any of :attr:`options` given; ``where`` names
    #: the device for messages.
    wrap: Callable[[Transport, Mapping[str, Any], str], Transport]
    #: ``unwrap(transport)``: the link under ``transport`` if it is this channel, else ``None``.
    unwrap: Callable[[Transport], Transport | None]
    options: tuple[str, ...] = ()  #: further settings it takes (``handshake_timeout``)


@dataclasses.dataclass(frozen=True, slots=True)
class ProtocolSpec:
    """Everything the SDK needs to know about one wire protocol."""

    name: str  #: the identifier in URLs, profiles and ``connect(protocol=...)``
    #: Whom a user interface shows as the maker of a device speaking it.
    manufacturer: str
    #: ``adapter(profile)``: a fresh host adapter for a device of that profile.
    adapter: Callable[[DeviceProfile], ProtocolAdapter]
    #: The id of the device profile used when nothing names a more precise one.
    default_profile: str
    #: The sans-I/O contract module (``massager_protocols.<name>``), for documentation.
    contract: str = ""
    markers: Markers = Markers()
    #: ``model(manufacturer_data)``: the model an advertisement names, if the protocol says.
    model_from_advertisement: Callable[[Mapping[int, bytes]], str | None] | None = None
    #: The device reports its own capabilities (an INFO message): its profiles need no
    #: ``[device]`` table.
    self_describing: bool = False
    #: Settings the device needs before it talks (from ``connect()``, the device file,
    #: or what the link knows), and how a user obtains them.
    credentials: tuple[str, ...] = ()
    credentials_help: str = ""
    channel: Channel | None = None
    #: Folders of further ``.toml`` device profiles the protocol ships.
    profiles: tuple[Traversable, ...] = ()
    #: The protocol assumed when nothing says otherwise (one registration has it).
    fallback: bool = False

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum() or not self.name.isascii():
            raise ValueError(f"protocol name {self.name!r} must be ASCII letters, digits and '_'")
        if self.credentials and not self.credentials_help:
            raise ValueError(f"protocol {self.name}: say how to obtain its credentials")


#: Modules of this package that are not a protocol's.
_NOT_PROTOCOLS = frozenset({"base", "registry", "testing"})
_registered: dict[str, ProtocolSpec] = {}
_builtins_read = False
_entry_points_read = False


def register_protocol(spec: ProtocolSpec, *, replace: bool = False) -> ProtocolSpec:
    """Add ``spec`` to the registry; ``ValueError`` if its name is taken (unless ``replace``)."""
    if not isinstance(spec, ProtocolSpec):
        raise TypeError(f"register_protocol takes a ProtocolSpec, got {type(spec).__name__}")
    _read_builtins()
    if spec.name in _registered and not replace:
        raise ValueError(f"protocol {spec.name!r} is registered already")
    _registered[spec.name] = spec
    return spec


def unregister_protocol(name: str) -> None:
    """Remove a protocol registered at run time (``KeyError`` if unknown)."""
    del _registered[name]


@contextlib.contextmanager
def registered(spec: ProtocolSpec) -> Iterator[ProtocolSpec]:
    """``spec`` registered for the ``with`` block (tests, temporary plug-ins)."""
    register_protocol(spec)
    try:
        yield spec
    finally:
        _registered.pop(spec.name, None)


def _read_builtins() -> None:
    global _builtins_read
    if _builtins_read:
        return
    _builtins_read = True
    for module in pkgutil.iter_modules(_package_path()):
        if module.name in _NOT_PROTOCOLS:
            continue
        loaded = importlib.import_module(f"{__package__}.{module.name}")
        spec = getattr(loaded, "PROTOCOL", None)
        if isinstance(spec, ProtocolSpec):
            _registered.setdefault(spec.name, spec)


def _package_path() -> list[str]:
    # Looked up when first needed: the package imports this module when it loads.
    package = importlib.import_module(__package__ or "massager_sdk.protocols")
    return list(getattr(package, "__path__", []))


def _read_entry_points() -> None:
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in _registered:
            continue  # built-ins and run-time registrations win
        spec = entry.load()
        if not isinstance(spec, ProtocolSpec) or spec.name != entry.name:
            raise TypeError(
                f"entry point {entry.name} = {entry.value} in {ENTRY_POINT_GROUP} must name "
                f"a ProtocolSpec called {entry.name!r}"
            )
        _registered[spec.name] = spec


def all_protocols() -> dict[str, ProtocolSpec]:
    """Every registered protocol, by name (sorted)."""
    _read_builtins()
    _read_entry_points()
    return dict(sorted(_registered.items()))


def protocol_names() -> tuple[str, ...]:
    """The names of every registered protocol, sorted."""
    return tuple(all_protocols())


def find_protocol(name: str) -> ProtocolSpec | None:
    """The registration of ``name``, or ``None``."""
    _read_builtins()
    if name not in _registered:
        _read_entry_points()
    return _registered.get(name)


def get_protocol(name: str, where: str = "protocol") -> ProtocolSpec:
    """The registration of ``name``; ``ValueError`` naming the accepted ones."""
    spec = find_protocol(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"unknown {where} {name!r}; accepted: {', '.join(protocol_names())}")
    return spec


def manufacturer_name(protocol: str) -> str:
    """Whom a user interface shows as the maker of a device speaking ``protocol``."""
    spec = find_protocol(protocol)
    return spec.manufacturer if spec is not None else protocol


def default_protocol() -> ProtocolSpec:
    """The protocol assumed when nothing says which."""
    for spec in all_protocols().values():
        if spec.fallback:
            return spec
    raise LookupError("no registered protocol is the fallback")


def channel_for_scheme(scheme: str) -> ProtocolSpec | None:
    """The protocol whose secure channel a URL prefix (``secure`` of ``secure+ble``) names."""
    key = scheme.lower()
    for spec in all_protocols().values():
        if spec.channel is not None and spec.channel.scheme == key:
            return spec
    return None


def channel_schemes(links: Iterable[str]) -> dict[str, ProtocolSpec]:
    """``CHANNEL+LINK`` URL schemes of every registered channel over each of ``links``
    (the transports' schemes), each with the protocol it names."""
    out: dict[str, ProtocolSpec] = {}
    for spec in all_protocols().values():
        if spec.channel is not None:
            for link in links:
                out.setdefault(f"{spec.channel.scheme}+{link}", spec)
    return out


def open_channel_url(url: str, **options: Any) -> Transport:
    """A ``CHANNEL+LINK://...`` URL opened as the channel over the ``LINK://...`` link.

    ``options`` naming the protocol's credentials or channel options go to the
    channel, the rest to the link. Credentials not given come from the user's
    device file; :class:`MissingCredentials` (with the protocol's
    ``credentials_help``) when one is still missing. :func:`massager_sdk.connect`
    composes channels itself, after selection; this serves a caller that opens a
    transport directly (``open_transport``, pairing, conformance probes).
    """
    text = url.strip()
    prefix, plus, _ = text.partition("://")[0].partition("+")
    spec = channel_for_scheme(prefix) if plus else None
    if spec is None or spec.channel is None:
        raise ValueError(f"{url!r} does not name a registered secure channel")
    channel = spec.channel
    settings = {k: options.pop(k) for k in (*spec.credentials, *channel.options) if k in options}
    link_url = text[len(prefix) + 1 :]
    if not all(settings.get(k) for k in spec.credentials):
        # Loaded here: the device file belongs to the profiles, a layer above.
        import urllib.parse

        from massager_sdk.profiles.overrides import load_devices

        parsed = urllib.parse.urlsplit(link_url)
        target = urllib.parse.unquote(parsed.netloc or parsed.path)
        entry = load_devices().override(target, text, link_url)
        if entry is not None:
            for key in spec.credentials:
                settings[key] = settings.get(key) or entry.credentials.get(key)
    missing = [k for k in spec.credentials if not settings.get(k)]
    if missing:
        raise MissingCredentials(f"{text}: missing {', '.join(missing)}: {spec.credentials_help}")
    from massager_sdk.transports import open_transport

    return channel.wrap(open_transport(link_url, **options), settings, text)


def innermost(transport: Transport) -> Transport:
    """The link under any registered secure channel."""
    channels = [s.channel for s in all_protocols().values() if s.channel is not None]
    while True:
        inner = next((c.unwrap(transport) for c in channels if c.unwrap(transport)), None)
        if inner is None:
            return transport
        transport = inner
