"""Which protocol and device profile a connection uses, and the link they need.

One function decides, :func:`select`, from the most explicit word down:

1. ``connect(protocol=...)``, or the protocol of ``connect(device_profile=...)``;
2. the URL's ``protocol=`` query parameter (``tcp://HOST:PORT?protocol=NAME``), or
   a secure channel's scheme prefix (``CHANNEL+ble://...``: that protocol's
   channel over the link);
3. the ``profile =`` the user's device file gives the device;
4. what the link knows: a ``sim://MODEL`` model's protocol, a BLE advertisement
   matched against the profiles;
5. the registry's fallback protocol.

The profile is the named one, else the device file's or the advertisement's
when it speaks the chosen protocol, else the protocol's registered default
profile. It gives the adapter its capabilities (for protocols without INFO)
and the BLE transport its GATT endpoints. Every protocol fact comes from its
registration (:mod:`massager_sdk.protocols.registry`).

:class:`LinkRequest` is what :func:`massager_sdk.connect` was asked;
:meth:`LinkRequest.prepare` runs when the device is opened: it asks the link
what it knows, selects, refuses a device the user's deny list names, gives a
BLE link the profile's endpoints and wraps the link in the protocol's secure
channel when it has one, with the credentials it needs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

from massager_sdk.errors import BadURLError, ConnectionFailed
from massager_sdk.profiles.loader import ProfileError, get_profile
from massager_sdk.profiles.matching import identify
from massager_sdk.profiles.model import DeviceProfile
from massager_sdk.profiles.overrides import DeviceFile, DeviceOverride, load_devices
from massager_sdk.protocols import (
    MissingCredentials,
    ProtocolAdapter,
    ProtocolSpec,
    adapter_for,
    all_protocols,
    default_protocol,
    get_protocol,
    protocol_names,
)
from massager_sdk.protocols.registry import channel_for_scheme, innermost
from massager_sdk.transports import (
    DEFAULT_URL,
    IdentifyingTransport,
    LinkIdentity,
    Transport,
    accepted_forms,
)

_log = logging.getLogger("massager_sdk")


def channel_options() -> tuple[str, ...]:
    """Options of the registered protocols' credentials and channels (the rest of
    ``connect()``'s keyword arguments go to the link's transport)."""
    names: dict[str, None] = {}
    for spec in all_protocols().values():
        names.update(dict.fromkeys(spec.credentials))
        if spec.channel is not None:
            names.update(dict.fromkeys(spec.channel.options))
    return tuple(names)


class DeviceNotAllowed(ConnectionFailed):
    """The user's device file does not allow this device (deny list, or not on the allow list)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Selection:
    """The protocol and device profile of a connection, and what decided them."""

    protocol: str
    profile: DeviceProfile
    reason: str  #: e.g. ``"the simulated model"``, ``"the URL's protocol="``


def check_protocol(protocol: str, where: str = "protocol") -> str:
    """``protocol`` if it is registered; ``ValueError`` naming the accepted ones."""
    return get_protocol(protocol, where).name


def load_device_profile(profile: str | os.PathLike[str] | DeviceProfile) -> DeviceProfile:
    """A device profile by id, by path to a ``.toml`` file, or as given."""
    if isinstance(profile, DeviceProfile):
        return profile
    if not isinstance(profile, str | os.PathLike):
        raise TypeError(
            "device_profile must be a profile id, a path to a .toml profile or a DeviceProfile, "
            f"got {type(profile).__name__}"
        )
    return get_profile(profile)


def select(
    *,
    protocol: str | None = None,
    device_profile: DeviceProfile | None = None,
    url_protocol: str | None = None,
    user_profile: DeviceProfile | None = None,
    link: LinkIdentity | None = None,
) -> Selection:
    """The protocol and profile to use, the most explicit word first (see the module)."""
    if protocol is not None:
        check_protocol(protocol)
    if url_protocol is not None:
        check_protocol(url_protocol, "protocol in the URL")
    if device_profile is not None:
        if protocol is not None and protocol != device_profile.protocol:
            raise ValueError(
                f"protocol={protocol!r} contradicts device profile {device_profile.id!r}, "
                f"which speaks {device_profile.protocol!r}: give one or the other"
            )
        return Selection(device_profile.protocol, device_profile, "the device_profile= named")
    if protocol is not None:
        chosen, reason = protocol, "protocol="
    elif url_protocol is not None:
        chosen, reason = url_protocol, "the URL"
    elif user_profile is not None:
        return Selection(user_profile.protocol, user_profile, "the device file")
    elif link is not None and link.protocol is not None:
        chosen, reason = link.protocol, "the link"
    else:
        chosen, reason = default_protocol().name, "the default"
    spec = get_protocol(chosen)
    for candidate in (user_profile, link.profile if link is not None else None):
        if candidate is not None and candidate.protocol == chosen:
            return Selection(chosen, candidate, reason)
    return Selection(chosen, get_profile(spec.default_profile), reason)


def split_url(url: str) -> tuple[str, str | None, bool]:
    """``(link URL, protocol the URL names, whether a channel's scheme prefix names it)``.

    The ``protocol=`` query parameter is taken out (the rest of the URL is kept
    as written); a secure channel's prefix (``CHANNEL+``) names its protocol and
    is taken off.
    """
    text = url.strip()
    base, sep, rest = text.partition("?")
    query, hash_sep, fragment = rest.partition("#")
    kept: list[str] = []
    named: list[str] = []
    for item in query.split("&") if sep else []:
        key, _, value = item.partition("=")
        if urllib.parse.unquote_plus(key) == "protocol":
            named.append(urllib.parse.unquote_plus(value))
        else:
            kept.append(item)
    known = protocol_names()
    accepted = ", ".join(known)
    if len(named) > 1:
        raise BadURLError(f"bad device URL {url!r}: give protocol= once; accepted: {accepted}")
    if named and named[0] not in known:
        raise BadURLError(
            f"bad device URL {url!r}: unknown protocol {named[0]!r}; accepted: {accepted}"
        )
    link = base + ("?" + "&".join(kept) if kept else "") + (hash_sep + fragment)
    prefix, plus, _ = link.partition("://")[0].partition("+")
    spec = channel_for_scheme(prefix) if plus else None
    if spec is not None:
        link = link[len(prefix) + 1 :]
        if named and named[0] != spec.name:
            raise BadURLError(
                f"bad device URL {url!r}: a {prefix}+ URL speaks {spec.name}, "
                f"not protocol={named[0]}"
            )
        return link, spec.name, True
    return link, (named[0] if named else None), False


@dataclasses.dataclass(slots=True)
class PreparedLink:
    """What :meth:`LinkRequest.prepare` settled."""

    transport: Transport  #: the link, wrapped in the protocol's secure channel if it has one
    selection: Selection
    adapter: ProtocolAdapter
    keys: tuple[str, ...]  #: names the device file may know the device by
    override: DeviceOverride | None  #: the device file's entry for it


class LinkRequest:
    """What :func:`massager_sdk.connect` was asked: URL, protocol, profile, credentials.

    Names are checked at once (an unknown protocol or profile is a
    ``ValueError`` naming the accepted ones); the rest is settled by
    :meth:`prepare` when the device is opened.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        protocol: str | None = None,
        device_profile: str | os.PathLike[str] | DeviceProfile | None = None,
        channel_settings: Mapping[str, Any] | None = None,
        devices: DeviceFile | None = None,
    ) -> None:
        if url is not None and not isinstance(url, str):
            raise BadURLError(
                f"a device URL must be a string, got {type(url).__name__}; "
                f"accepted forms: {', '.join(accepted_forms())}"
            )
        self.url = DEFAULT_URL if url is None else url
        self.link_url, self.url_protocol, self.by_scheme = split_url(self.url)
        if protocol is not None and not isinstance(protocol, str):
            raise TypeError(f"protocol must be a string, got {type(protocol).__name__}")
        self.protocol = None if protocol is None else check_protocol(protocol)
        if self.by_scheme and self.protocol not in (None, self.url_protocol):
            raise ValueError(
                f"{self.url} is the secure channel of {self.url_protocol}; "
                f"protocol={self.protocol!r} cannot run over it"
            )
        self.device_profile = (
            None if device_profile is None else load_device_profile(device_profile)
        )
        self.channel_settings = dict(channel_settings or {})
        unknown = sorted(set(self.channel_settings) - set(channel_options()))
        if unknown:
            raise TypeError(f"unknown credential or channel option(s) {', '.join(unknown)}")
        self.devices = load_devices() if devices is None else devices

    @classmethod
    def from_options(
        cls,
        url: str | None,
        *,
        protocol: str | None,
        device_profile: str | os.PathLike[str] | DeviceProfile | None,
        options: dict[str, Any],
    ) -> LinkRequest:
        """A request, taking credentials and channel options out of ``options`` (the rest
        are the transport's)."""
        settings = {k: options.pop(k) for k in channel_options() if k in options}
        return cls(url, protocol=protocol, device_profile=device_profile, channel_settings=settings)

    def guess(self) -> tuple[Selection, ProtocolAdapter]:
        """The selection without the link's word (before the device is identified)."""
        selection = select(
            protocol=self.protocol,
            device_profile=self.device_profile,
            url_protocol=self.url_protocol,
        )
        return selection, adapter_for(selection.protocol, profile=selection.profile)

    def _keys(self, transport: Transport, link: LinkIdentity | None) -> tuple[str, ...]:
        parsed = urllib.parse.urlsplit(self.link_url)
        target = urllib.parse.unquote(parsed.netloc or parsed.path)
        found = [self.url, self.link_url, transport.description, target]
        if link is not None:
            found.extend(link.keys)
        return tuple(dict.fromkeys(k for k in found if k))

    def _user_profile(self, override: DeviceOverride | None) -> DeviceProfile | None:
        if override is None or override.profile is None:
            return None
        try:
            return get_profile(override.profile)
        except ProfileError as exc:
            raise ProfileError(
                f"{self.devices.path}: devices.{override.pattern!r}.profile: {exc}"
            ) from None

    async def prepare(self, transport: Transport) -> PreparedLink:
        """Identify the device on ``transport``, select, and make the link ready to open."""
        link = innermost(transport)
        identity = await link.identify() if isinstance(link, IdentifyingTransport) else None
        if identity is not None:
            identity = recognise(identity)
        keys = self._keys(link, identity)
        # A denied device is refused before connecting. The allow list may name a
        # serial number, so it is checked when the device has answered INFO.
        if self.devices.denied(*keys):
            check_allowed(self.devices, keys, transport.description)
        override = self.devices.override(*keys)
        selection = select(
            protocol=self.protocol,
            device_profile=self.device_profile,
            url_protocol=self.url_protocol,
            user_profile=self._user_profile(override),
            link=identity,
        )
        _log.info(
            "%s: protocol %s (from %s), device profile %s",
            transport.description,
            selection.protocol,
            selection.reason,
            selection.profile.id,
        )
        if identity is not None and identity.protocol not in (None, selection.protocol):
            _log.warning(
                "%s looks like a %s device (%s), but %s was chosen by %s",
                transport.description,
                identity.protocol,
                identity.seen or identity.model,
                selection.protocol,
                selection.reason,
            )
        if (
            identity is not None
            and identity.profile is None
            and selection.reason == "the link"
            and selection.profile.device is not None
        ):
            # Recognised by the protocol's markers only: the capabilities are a guess.
            _log.warning(
                "%s speaks %s but matches no device profile (%s); using %s's capabilities: "
                "add a profile for it (docs/devices.md)",
                transport.description,
                selection.protocol,
                identity.seen,
                selection.profile.id,
            )
        _use_profile_gatt(link, selection.profile)
        spec = get_protocol(selection.protocol)
        wanted = {*spec.credentials, *(spec.channel.options if spec.channel else ())}
        stray = sorted(set(self.channel_settings) - wanted)
        if stray:
            takers = [
                s.name
                for s in all_protocols().values()
                if set(stray) <= {*s.credentials, *(s.channel.options if s.channel else ())}
            ]
            raise ValueError(
                f"{', '.join(stray)} only apply to {' or '.join(takers) or 'other'} devices; "
                f"{transport.description} speaks {selection.protocol} ({selection.reason})"
            )
        if spec.channel is not None and innermost(transport) is transport:
            transport = self._secure_channel(spec, transport, override, identity)
        adapter = adapter_for(selection.protocol, profile=selection.profile)
        return PreparedLink(transport, selection, adapter, keys, override)

    def _secure_channel(
        self,
        spec: ProtocolSpec,
        transport: Transport,
        override: DeviceOverride | None,
        identity: LinkIdentity | None,
    ) -> Transport:
        """The protocol's channel over ``transport``, with credentials from the options,
        the device file, or what the link knows (a simulated device's own)."""
        assert spec.channel is not None
        sources: list[Mapping[str, Any]] = [self.channel_settings]
        if override is not None:
            sources.append(override.credentials)
        if identity is not None:
            sources.append(identity.options)
        settings: dict[str, Any] = {
            k: v for k, v in self.channel_settings.items() if k in spec.channel.options
        }
        for key in spec.credentials:
            value = next((s[key] for s in sources if s.get(key)), None)
            if value is not None:
                settings[key] = str(value)
        missing = [k for k in spec.credentials if k not in settings]
        if missing:
            raise MissingCredentials(
                f"{self.url}: missing {', '.join(missing)}: {spec.credentials_help}"
            )
        return spec.channel.wrap(transport, settings, self.url)


def recognise(identity: LinkIdentity) -> LinkIdentity:
    """``identity`` with what its advertisement says: the device profile it matches (when
    it speaks the protocol the link names, if any), the protocol, model and a summary."""
    adv = identity.advertisement
    if adv is None:
        return identity
    match = identify(adv.name, adv.services, adv.manufacturer_data, adv.service_data)
    protocol = identity.protocol or match.protocol
    return dataclasses.replace(
        identity,
        protocol=protocol,
        profile=identity.profile or (match.profile if match.protocol == protocol else None),
        model=identity.model or match.model,
        seen=identity.seen or match.seen,
    )


def check_allowed(devices: DeviceFile, keys: tuple[str, ...], description: str) -> None:
    """Raise :class:`DeviceNotAllowed` when the device file's lists exclude the device."""
    if devices.allowed(*keys):
        return
    why = "is on the deny list" if devices.denied(*keys) else "is not on the allow list"
    raise DeviceNotAllowed(
        f"{description} {why} of {devices.path or 'the device file'} (known as "
        f"{', '.join(keys)}); edit allow/deny there to use it"
    )


def _use_profile_gatt(link: Transport, profile: DeviceProfile) -> None:
    """Give a BLE link the profile's endpoints, unless it was given its own."""
    if link.scheme != "ble" or profile.gatt is None:
        return
    from massager_sdk.transports.ble import BleTransport  # loaded already: link is one

    if isinstance(link, BleTransport) and not link.gatt_chosen:
        link.use_gatt(profile.gatt)
