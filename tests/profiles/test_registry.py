"""The protocol registry: where registrations come from, and what reads them."""

from __future__ import annotations

import importlib.metadata
import pkgutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import massager_sdk.profiles
import massager_sdk.protocols
from massager_sdk.errors import BadURLError
from massager_sdk.mqtt.config import check_device_url
from massager_sdk.profiles import ProfileError, get_profile
from massager_sdk.profiles.overrides import DEVICES_ENV, parse_devices
from massager_sdk.profiles.schema import schema
from massager_sdk.profiles.selection import LinkRequest, split_url
from massager_sdk.protocols import (
    Channel,
    Markers,
    MissingCredentials,
    ProtocolAdapter,
    ProtocolSpec,
    adapter_for,
    all_protocols,
    default_protocol,
    find_protocol,
    manufacturer_name,
    registered,
)
from massager_sdk.protocols import registry as registry_module
from massager_sdk.transports import (
    Transport,
    accepted_forms,
    open_transport,
    transport_class,
    url_schemes,
)
from tests.profiles.suite import TUYA_CREDENTIALS


def _unused_adapter(profile: Any) -> ProtocolAdapter:
    raise AssertionError("not built in these tests")


def _wrap(link: Transport, settings: Mapping[str, Any], where: str) -> Transport:
    return link


def plugin_spec(name: str = "plugin", **changes: Any) -> ProtocolSpec:
    fields: dict[str, Any] = {
        "name": name,
        "manufacturer": "Plug-in Works",
        "adapter": _unused_adapter,
        "default_profile": "plugin-default",
    }
    fields.update(changes)
    return ProtocolSpec(**fields)


#: What the fake entry point below names.
PLUGIN = plugin_spec()
WRONG_NAME = plugin_spec("other")


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[importlib.metadata.EntryPoint]]:
    """Installed entry points of the protocol group, as a list the test fills."""
    points: list[importlib.metadata.EntryPoint] = []

    def fake(group: str) -> list[importlib.metadata.EntryPoint]:
        assert group == registry_module.ENTRY_POINT_GROUP
        return points

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    monkeypatch.setattr(registry_module, "_entry_points_read", False)
    monkeypatch.setattr(registry_module, "_registered", dict(registry_module._registered))
    yield points


def test_every_protocol_module_of_the_package_is_registered_with_a_working_default() -> None:
    modules = [
        m.name
        for m in pkgutil.iter_modules(massager_sdk.protocols.__path__)
        if m.name not in registry_module._NOT_PROTOCOLS
    ]
    specs = all_protocols()
    assert len(specs) == len(modules) >= 3
    for name, spec in specs.items():
        assert spec.name == name
        profile = get_profile(spec.default_profile)
        assert profile.protocol == name
        assert adapter_for(name).name == name  # built from the default profile
        assert manufacturer_name(name) == spec.manufacturer


def test_exactly_one_protocol_is_the_fallback() -> None:
    fallbacks = [s for s in all_protocols().values() if s.fallback]
    assert fallbacks == [default_protocol()]


def test_a_protocol_installed_through_an_entry_point_is_found_by_name(
    entry_points: list[importlib.metadata.EntryPoint],
) -> None:
    group = registry_module.ENTRY_POINT_GROUP
    entry_points.append(importlib.metadata.EntryPoint("plugin", f"{__name__}:PLUGIN", group))
    assert find_protocol("plugin") is PLUGIN
    assert "plugin" in all_protocols()


def test_an_entry_point_naming_another_protocol_is_refused(
    entry_points: list[importlib.metadata.EntryPoint],
) -> None:
    group = registry_module.ENTRY_POINT_GROUP
    entry_points.append(importlib.metadata.EntryPoint("plugin", f"{__name__}:WRONG_NAME", group))
    with pytest.raises(TypeError, match="must name a ProtocolSpec called 'plugin'"):
        find_protocol("plugin")


def test_a_built_in_wins_over_an_entry_point_of_the_same_name(
    entry_points: list[importlib.metadata.EntryPoint],
) -> None:
    builtin = default_protocol()
    group = registry_module.ENTRY_POINT_GROUP
    entry_points.append(importlib.metadata.EntryPoint(builtin.name, f"{__name__}:PLUGIN", group))
    assert all_protocols()[builtin.name] is builtin


def test_a_name_is_registered_once_and_leaves_with_its_block() -> None:
    with registered(plugin_spec()):
        with pytest.raises(ValueError, match="registered already"):
            massager_sdk.protocols.register_protocol(plugin_spec())
        assert find_protocol("plugin") is not None
    assert find_protocol("plugin") is None
    with pytest.raises(ValueError, match=r"unknown protocol 'plugin'; accepted: "):
        LinkRequest("sim://", protocol="plugin")


def test_a_spec_says_what_was_wrong_with_it() -> None:
    with pytest.raises(ValueError, match="must be ASCII letters, digits and '_'"):
        plugin_spec("no spaces")
    with pytest.raises(ValueError, match="say how to obtain its credentials"):
        plugin_spec(credentials=("key",))


def test_a_channel_scheme_in_a_url_names_its_protocol() -> None:
    spec = plugin_spec(channel=Channel("plug", _wrap, lambda t: None))
    assert split_url("plug+tcp://host:1") == ("plug+tcp://host:1", None, False)
    with registered(spec):
        assert split_url("plug+tcp://host:1?x=1") == ("tcp://host:1?x=1", "plugin", True)
        other = default_protocol().name
        with pytest.raises(ValueError, match=f"a plug\\+ URL speaks plugin, not protocol={other}"):
            split_url(f"plug+tcp://host:1?protocol={other}")


def test_the_device_file_takes_the_credentials_a_registered_protocol_names() -> None:
    data = {"devices": {"AA:*": {"name": "Lounge", "plug_key": "s3cret"}}}
    with pytest.raises(ProfileError, match="unknown field\\(s\\) plug_key"):
        parse_devices(data)
    with registered(plugin_spec(credentials=("plug_key",), credentials_help="ask the maker")):
        entry = parse_devices(data).devices[0]
    assert entry.name == "Lounge"
    assert entry.credentials == {"plug_key": "s3cret"}


def test_connect_options_that_are_credentials_of_a_registered_protocol_are_taken_out() -> None:
    options: dict[str, Any] = {"plug_key": "s3cret", "mtu": 64}
    with registered(plugin_spec(credentials=("plug_key",), credentials_help="ask the maker")):
        request = LinkRequest.from_options(
            "sim://", protocol=None, device_profile=None, options=options
        )
    assert request.channel_settings == {"plug_key": "s3cret"}
    assert options == {"mtu": 64}


def test_the_profile_schema_and_the_markers_follow_the_registry() -> None:
    spec = plugin_spec(markers=Markers(frozenset({0x4242})), self_describing=True)
    assert "plugin" not in schema()["properties"]["protocol"]["enum"]
    with registered(spec):
        published = schema()
        assert "plugin" in published["properties"]["protocol"]["enum"]
        assert "plugin" in published["allOf"][0]["if"]["properties"]["protocol"]["not"]["enum"]
        from massager_sdk.profiles.matching import identify

        match = identify("", manufacturer={0x4242: b"\x01"}, profiles=[])
        assert (match.protocol, match.profile) == ("plugin", None)


def test_the_old_names_still_work_and_say_what_replaces_them() -> None:
    with pytest.warns(DeprecationWarning, match="all_protocols"):
        adapters = massager_sdk.protocols.ADAPTERS
    assert set(adapters) == set(all_protocols())
    with pytest.warns(DeprecationWarning, match="protocol_names"):
        names = massager_sdk.profiles.PROTOCOLS
    assert names == tuple(all_protocols())


def test_every_channel_scheme_is_a_url_scheme_before_any_protocol_is_chosen() -> None:
    # URL checks that run before a protocol is chosen (the bridge's configuration) use
    # the one list of schemes; each registered channel over each link is in it, from
    # the protocol's registration alone (no transport is registered for it).
    channels = [s.channel for s in all_protocols().values() if s.channel is not None]
    assert channels
    for channel in channels:
        for link in ("sim", "serial", "tcp", "ble"):
            scheme = f"{channel.scheme}+{link}"
            assert scheme in url_schemes()
            assert any(form.startswith(f"{scheme}://") for form in accepted_forms())
            assert check_device_url(f"{scheme}://x") == f"{scheme}://x"
            with pytest.raises(BadURLError, match="no transport for the URL scheme"):
                transport_class(scheme)  # served by the registry, not a transport
    ours = importlib.metadata.distribution("massager-sdk").entry_points
    assert not [e for e in ours if e.group == "massager_sdk.transports"]


def test_a_channel_url_opened_directly_takes_credentials_from_the_device_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "tuya+tcp://127.0.0.1:9"
    monkeypatch.setenv(DEVICES_ENV, str(tmp_path / "devices.toml"))
    with pytest.raises(MissingCredentials, match="missing local_key, device_id, uuid"):
        open_transport(url)
    keys = "\n".join(f'{k} = "{v}"' for k, v in TUYA_CREDENTIALS.items())
    (tmp_path / "devices.toml").write_text(f'[devices."127.0.0.1:9"]\n{keys}\n')
    channel = open_transport(url)
    assert channel.description == url
    inner = registry_module.innermost(channel)
    assert inner is not channel and inner.description == "tcp://127.0.0.1:9"
