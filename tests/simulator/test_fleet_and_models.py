"""Device models from their data files, and a fleet of many devices in one process."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from bleak import BleakClient, BleakScanner
from massager_protocols.nmp import Ack, Feature, GetInfo, Info, MsgType, SetOutput, ZonePosition
from massager_simulator import (
    DEFAULT_MODEL,
    Fleet,
    ModelError,
    SimulatedDevice,
    list_models,
    load_model,
)
from massager_simulator.ble import BLE_REGISTRY, SimulatedBleakClient, SimulatedBleakScanner

from tests.simulator.nmp_host import NmpHost, StreamLink, virtual

MODELS_DIR = Path(__file__).resolve().parents[2] / "simulator" / "massager_simulator" / "models"


def test_the_bundled_models_and_the_default() -> None:
    assert {"neck2", "heat4", "handheld"} <= set(list_models())
    assert DEFAULT_MODEL == "heat4"
    assert SimulatedDevice().model.name == "heat4"


def test_neck2_is_a_two_zone_battery_massager_without_heat() -> None:
    model = load_model("neck2")
    assert [z.position for z in model.zones] == [ZonePosition.NECK_LEFT, ZonePosition.NECK_RIGHT]
    assert model.intensity_steps == 5 and model.heat is None and model.battery is not None
    assert model.features & Feature.PATTERNS and not model.features & Feature.HEAT


def test_heat4_has_four_zones_ten_steps_and_an_ir_heater() -> None:
    model = load_model("heat4")
    assert [z.position for z in model.zones] == [
        ZonePosition.NECK_LEFT,
        ZonePosition.NECK_RIGHT,
        ZonePosition.SHOULDER_LEFT,
        ZonePosition.SHOULDER_RIGHT,
    ]
    assert model.intensity_steps == 10
    assert model.heat is not None
    assert model.heat.targets_c == (38.0, 40.0, 42.0) and model.heat.limit_c == 45.0
    assert model.watchdog_ms == 3000 and model.min_gap_ms == 20
    assert (model.auto_off_default_s, model.auto_off_max_s) == (900, 1200)
    assert model.features & Feature.BUTTON and model.features & Feature.TEMPERATURE_SENSOR


def test_handheld_is_one_motor_on_mains_power() -> None:
    model = load_model("handheld")
    assert [z.position for z in model.zones] == [ZonePosition.HANDHELD]
    assert model.battery is None and model.heat is None
    assert model.info().battery_mah == 0


def test_wrap8_has_eight_zones_and_the_most_steps_a_status_level_holds() -> None:
    model = load_model("wrap8")
    assert len(model.zones) == 8 and model.intensity_steps == 15
    assert len(model.info().zones) == 8


def test_an_unknown_model_name_lists_the_available_ones() -> None:
    expected = "unknown model 'heat9'; available models: handheld, heat4, heat4-auth, neck2"
    with pytest.raises(ModelError, match=re.escape(expected)):
        load_model("heat9")
    with pytest.raises(ModelError, match="unknown model"):
        SimulatedDevice("")


def test_a_model_file_can_be_loaded_by_path(tmp_path: Path) -> None:
    text = (MODELS_DIR / "neck2.toml").read_text().replace('"NMP Neck 2"', '"Custom Neck"')
    path = tmp_path / "custom.toml"
    path.write_text(text)
    model = load_model(path)
    assert model.name == "custom" and model.model == "Custom Neck"
    assert load_model(str(path)) == model


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("intensity_steps = 5", "intensity_steps = 0"), "intensity_steps = 0 is outside 1..15"),
        # NMP/1's STATUS holds a level in 4 bits
        (("intensity_steps = 5", "intensity_steps = 16"), "intensity_steps = 16 is outside 1..15"),
        (("intensity_steps = 5", 'intensity_steps = "5"'), "= '5' must be an integer"),
        (('position = "NECK_LEFT"', 'position = "KNEE"'), "position = 'KNEE'; accepted: NAPE"),
        (("button = true", "button = 1"), "button = 1 must be true or false"),
        (("min_gap_ms = 20", "min_gap_ms = 20\ncolour = 3"), "unknown field(s) colour"),
        (("watchdog_ms = 3000\n", ""), "watchdog_ms is missing"),
        (("low_pct = 10", "low_pct = 2"), "battery.low_pct = 2 is outside 4..99"),
        (('firmware = "1.1.4"', 'firmware = "1.x"'), "must be MAJOR.MINOR.PATCH"),
        (("auto_off_default_s = 900", "auto_off_default_s = 1500"), "= 1500 is outside 1..1200"),
    ],
)  # fmt: skip
def test_a_bad_model_file_names_the_field_and_what_is_accepted(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = (MODELS_DIR / "neck2.toml").read_text()
    assert change[0] in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(ModelError, match=r"model bad: .*" + re.escape(message)):
        load_model(path)


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nothing.toml")


def test_a_fleet_has_unique_serials_and_addresses_and_each_device_is_its_own() -> None:
    async def scenario() -> None:
        fleet = Fleet(25)
        fleet.add("neck2")
        async with fleet:
            assert len(fleet) == 26
            assert len({d.serial for d in fleet}) == 26
            assert len({d.address for d in fleet}) == 26
            assert fleet[0].serial == "H4-000001" and fleet[25].serial == "N2-000026"
            assert fleet[1].address == "C0:FF:EE:00:00:02"
            hosts = [NmpHost(fleet.connect(d.address or "")) for d in fleet]
            infos = [await h.request(GetInfo()) for h in hosts]
            assert [i.serial for i in infos if isinstance(i, Info)] == [d.serial for d in fleet]
            # Commands reach only their own device.
            await hosts[3].request(SetOutput(0b1, 4))
            assert [d.is_on for d in fleet].count(True) == 1 and fleet[3].is_on
            assert fleet.by_serial("H4-000004") is fleet[3]
            assert fleet.by_address("c0:ff:ee:00:00:04") is fleet[3]
            with pytest.raises(KeyError, match="no fleet device"):
                fleet.by_address("00:00:00:00:00:00")
            for host in hosts:
                await host.close()

    virtual(scenario)


def test_a_fleet_is_reachable_over_tcp() -> None:
    async def scenario() -> None:
        async with Fleet(5) as fleet:
            ports = await fleet.serve_tcp()
            assert len(set(ports.values())) == 5
            for device in fleet:
                assert device.address is not None
                reader, writer = await asyncio.open_connection("127.0.0.1", ports[device.address])
                host = NmpHost(StreamLink(reader, writer))
                info = await host.request(GetInfo())
                assert isinstance(info, Info) and info.serial == device.serial
                await host.close()

    asyncio.run(scenario())


def test_a_fleet_is_reachable_over_ble() -> None:
    async def scenario() -> None:
        async with Fleet(4) as fleet:
            fleet.register_ble()
            try:
                found = await BleakScanner.discover(timeout=0.5, backend=SimulatedBleakScanner)
                assert sorted(d.address for d in found) == sorted(
                    d.address for d in fleet if d.address
                )
                address = fleet[2].address
                assert address is not None
                async with BleakClient(address, backend=SimulatedBleakClient) as client:
                    assert client.name == f"NMP-{fleet[2].serial}"
                    await client.write_gatt_char(
                        "a5e10002-6e6d-7031-8f5a-6d6173736167",
                        bytes.fromhex("a5 01 06 04 03 01 03 00 00 00 00 69 a8"),
                        response=False,
                    )
                    await asyncio.sleep(0.5)
                    assert fleet[2].commanded[0] == 3 and not fleet[1].is_on
            finally:
                fleet.unregister_ble()
            assert BLE_REGISTRY.entries() == []

    virtual(scenario)


def test_fleet_members_can_ack_in_parallel() -> None:
    async def scenario() -> list[object]:
        async with Fleet(50) as fleet:
            hosts = [NmpHost(d.connect()) for d in fleet]
            replies = await asyncio.gather(*(h.request(SetOutput(0b1, 1)) for h in hosts))
            for host in hosts:
                await host.close()
            return list(replies)

    assert virtual(scenario) == [Ack(MsgType.SET_OUTPUT)] * 50
