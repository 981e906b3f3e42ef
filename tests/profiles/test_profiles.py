"""Device profiles: the loader and the published schema agree; overrides only make safer."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from bleak import BleakScanner
from massager_protocols import registry
from massager_simulator import SimulatedDevice
from massager_simulator.ble import BLE_REGISTRY, SimulatedBleakScanner

from massager_sdk.profiles import ProfileError, builtin_profiles, get_profile, parse_profile
from massager_sdk.profiles.matching import identify, identify_advertisement
from massager_sdk.profiles.overrides import load_devices, parse_devices
from massager_sdk.profiles.schema import SCHEMA_PATH, render

BUILTIN = Path(__file__).resolve().parents[2] / "massager_sdk" / "profiles" / "builtin"
VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def _data(name: str) -> dict[str, Any]:
    return tomllib.loads((BUILTIN / f"{name}.toml").read_text(encoding="utf-8"))


def test_the_published_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render(), (
        "run: python -m massager_sdk.profiles.schema"
    )


@pytest.mark.parametrize("name", sorted(p.stem for p in BUILTIN.glob("*.toml")))
def test_every_builtin_profile_loads_and_validates(name: str) -> None:
    data = _data(name)
    VALIDATOR.validate(data)
    profile = parse_profile(name, data)
    assert profile.protocol in registry.names()


def _broken(name: str, change: Any) -> dict[str, Any]:
    data = _data(name)
    change(data)
    return data


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("unknown top-level field", _broken("yh-ems", lambda d: d.update(colour="red")), "colour"),
    ("unknown protocol", _broken("yh-ems", lambda d: d.update(protocol="ftp")), "protocol"),
    ("no match rule", _broken("yh-ems", lambda d: d.update(match=[])), "match"),
    ("empty match rule", _broken("yh-ems", lambda d: d.update(match=[{}])), "condition"),
    (
        "bad service uuid",
        _broken("yh-ems", lambda d: d["gatt"].update(service="ffe")),
        "not a UUID",
    ),
    ("no capabilities for yh", _broken("yh-ems", lambda d: d.pop("device")), "device"),
    (
        "steps out of range",
        _broken("yh-ems", lambda d: d["device"].update(intensity_steps=0)),
        "intensity_steps",
    ),
    (
        "unknown zone position",
        _broken("yh-ems", lambda d: d["device"]["zones"][0].update(position="KNEE")),
        "position",
    ),
    (
        "unknown waveform",
        _broken("tuya-neck", lambda d: d["device"]["modes"][0].update(waveform="saw")),
        "waveform",
    ),
    (
        "heat level above the limit",
        _broken("tuya-neck", lambda d: d["device"]["heat"]["levels"][0].update(temperature_c=70)),
        "temperature_c",
    ),
    (
        "bad manufacturer prefix",
        _broken("yh-ems", lambda d: d["match"][0]["manufacturer"][0].update(prefix="0g")),
        "hex",
    ),
]


@pytest.mark.parametrize(("case", "data", "field"), BAD, ids=[b[0] for b in BAD])
def test_loader_and_schema_refuse_the_same_profiles(
    case: str, data: dict[str, Any], field: str
) -> None:
    assert not VALIDATOR.is_valid(data), f"the schema accepts: {case}"
    with pytest.raises(ProfileError, match=field):
        parse_profile("broken", data)


def test_capabilities_come_from_the_profile() -> None:
    caps = get_profile("tuya-neck").capabilities()
    assert caps.protocol == "tuya_ble" and caps.intensity_steps == 16
    assert caps.heat is not None and caps.heat.limit_c == 40.0
    with pytest.raises(ValueError, match="report their own"):
        get_profile("nmp").capabilities()
    with pytest.raises(ProfileError, match="unknown device profile 'nope'; known: nmp"):
        get_profile("nope")


def test_a_user_profile_adds_to_and_replaces_the_builtin_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (BUILTIN / "yh-ems.toml").read_text(encoding="utf-8")
    (tmp_path / "yh-ems.toml").write_text(text.replace('model = "YH EMS Neck"', 'model = "Mine"'))
    (tmp_path / "other.toml").write_text(text)
    monkeypatch.setenv("MASSAGER_PROFILES_DIR", str(tmp_path))
    assert get_profile("yh-ems").capabilities().model == "Mine"
    assert get_profile("other").protocol == "yh"
    assert set(builtin_profiles()) == {"nmp", "tuya-neck", "yh-ems"}


def test_overrides_only_make_a_device_safer() -> None:
    devices = parse_devices(
        {
            "allow": ["C0:FF:EE:*"],
            "deny": ["C0:FF:EE:00:00:09"],
            "devices": {
                "C0:FF:EE:00:00:01": {"name": "Bedroom", "max_intensity": 8, "heat": False},
                "C0:FF:EE:*": {"max_intensity": 12},
            },
        }
    )
    assert devices.allowed("C0:FF:EE:00:00:01")
    assert not devices.allowed("C0:FF:EE:00:00:09")
    assert not devices.allowed("AA:BB:CC:DD:EE:FF", "Some Name")
    entry = devices.override("c0:ff:ee:00:00:01")
    assert entry is not None and entry.name == "Bedroom"
    caps = entry.apply(get_profile("tuya-neck").capabilities())
    assert caps.intensity_steps == 8 and caps.heat is None
    wildcard = devices.override("C0:FF:EE:00:00:02")
    assert wildcard is not None and wildcard.max_intensity == 12
    with pytest.raises(ProfileError, match="only lower it"):
        parse_devices({"devices": {"x": {"max_intensity": 30}}}).devices[0].apply(
            get_profile("yh-ems").capabilities()
        )
    with pytest.raises(ProfileError, match="can only disable the heater"):
        parse_devices({"devices": {"x": {"heat": True}}})
    with pytest.raises(ProfileError, match=r"unknown field.*colour"):
        parse_devices({"devices": {"x": {"colour": "red"}}})


def test_a_missing_device_file_is_empty(tmp_path: Path) -> None:
    devices = load_devices(tmp_path / "devices.toml")
    assert devices.allowed("anything") and devices.override("anything") is None


def test_identify_prefers_the_most_specific_rule_and_names_unknown_devices() -> None:
    ems = identify("EMS-01", ["0000ffe0-0000-1000-8000-00805f9b34fb"], {0x6879: b"\x01\x03"})
    assert ems.profile is not None and ems.profile.id == "yh-ems" and ems.protocol == "yh"
    uart = identify("HM-10", ["0000ffe0-0000-1000-8000-00805f9b34fb"])
    assert uart.protocol is None and not uart.known
    assert uart.seen == "name 'HM-10', services [ffe0]"
    other_tuya = identify("TY", service_data={"0000a201-0000-1000-8000-00805f9b34fb": b"\0xyz"})
    assert other_tuya.profile is None and other_tuya.protocol == "tuya_ble"
    nmp = identify("NMP-1", manufacturer={0xFFFF: b"NMP\x01\x02\x00"})
    assert nmp.protocol == "nmp1" and nmp.model == "NMP Heat 4"


def test_scanning_the_simulators_recognises_each_protocol() -> None:
    async def main() -> dict[str, Any]:
        devices = {
            "C0:FF:EE:99:00:01": SimulatedDevice("yh-ems"),
            "C0:FF:EE:99:00:02": SimulatedDevice("tuya-neck"),
            "C0:FF:EE:99:00:03": SimulatedDevice("heat4"),
        }
        for address, device in devices.items():
            await device.start()
            BLE_REGISTRY.add(device, address=address)
        try:
            heard = await BleakScanner.discover(0.3, return_adv=True, backend=SimulatedBleakScanner)
            return {
                address: identify_advertisement(adv, device.name)
                for address, (device, adv) in heard.items()
                if address in devices
            }
        finally:
            for address, device in devices.items():
                BLE_REGISTRY.remove(address)
                await device.stop()

    found = asyncio.run(main())
    assert {a: (m.protocol, m.profile.id if m.profile else None) for a, m in found.items()} == {
        "C0:FF:EE:99:00:01": ("yh", "yh-ems"),
        # Bound, as a device whose key one holds is: its product id is advertised
        # encrypted, so the SDK's default name and the bound flag match it.
        "C0:FF:EE:99:00:02": ("tuya_ble", "tuya-neck"),
        "C0:FF:EE:99:00:03": ("nmp1", "nmp"),
    }
    assert found["C0:FF:EE:99:00:03"].model == "NMP Heat 4"


def test_the_protocol_registry_gives_each_protocols_stream_decoder() -> None:
    assert registry.names() == ["nmp1", "tuya_ble", "yh"]
    from massager_protocols import yh

    decoder = registry.get("yh").stream_decoder()
    frame = yh.HeartbeatRequest().encode()
    assert decoder.feed(b"noise" + frame) == [registry.get("yh").decode(frame)]
    with pytest.raises(KeyError, match="known: nmp1, tuya_ble, yh"):
        registry.get("modbus")
