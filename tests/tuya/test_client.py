"""The client's behaviour against the simulated Tuya neck massager, over every transport."""

from __future__ import annotations

import dataclasses

import pytest
from massager_protocols.tuya import gatt as tuya_gatt
from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual
from massager_simulator.model import load_model
from massager_simulator.personalities.tuya import TuyaPersonality

import massager_sdk
from massager_sdk import ConnectionFailed
from massager_sdk.client import Device
from massager_sdk.model import DeviceEvent, EventKind, Waveform
from massager_sdk.profiles.loader import get_profile
from massager_sdk.protocols.tuya import MissingCredentials
from massager_sdk.transports import GattEndpoints
from tests.profiles.suite import FAST_RAMP, KINDS, TUYA_CREDENTIALS, wait_for, with_device

KIND = pytest.mark.parametrize("kind", KINDS)


@KIND
def test_connect_pairs_and_takes_the_capabilities_from_the_profile(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        info = device.info
        assert info.protocol == "tuya_ble"
        assert info.intensity_steps == 16
        assert info.heat is not None and info.heat.targets_c == (40.0,)
        assert device.transport.description.startswith("tuya+")
        # Its serial is its uuid, which the channel paired with (a bridge names it by it).
        assert info.serial == "tuya0sim0neck001"
        # The time request the SDK sends after pairing was answered: 13 digits and a zone.
        personality = sim.personality
        assert isinstance(personality, TuyaPersonality)
        told = personality.time_told
        assert told is not None and len(told) == 15 and told[:13].isdigit()

    with_device(kind, "tuya-neck", body)


@KIND
def test_intensity_is_switch_mode_and_gear(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_intensity(7, waveform=Waveform.PULSE, period=0.5)
        await device.flush()
        personality = sim.personality
        assert isinstance(personality, TuyaPersonality)
        assert sim.commanded == (7,)
        assert (personality.power, personality.gear, personality.mode) == (True, 6, 2)
        status = await device.status()
        assert status.intensities == (7,)
        await device.set_intensity(0)
        await device.flush()
        assert not personality.power and sim.commanded == (0,)

    with_device(kind, "tuya-neck", body)


@KIND
def test_heat_runs_with_the_massage(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_heat(40.0)  # the massage is off: held until it starts
        await device.flush()
        assert sim.heat_target_c is None
        await device.set_intensity(3)
        await device.flush()
        assert sim.heat_target_c == 40.0
        await device.set_heat(None)
        await device.flush()
        assert sim.heat_target_c is None and sim.commanded == (3,)

    with_device(kind, "tuya-neck", body)


@KIND
def test_stop_and_leaving_switch_it_off(kind: str) -> None:
    holder: list[SimulatedDevice] = []

    async def body(device: Device, sim: SimulatedDevice) -> None:
        holder.append(sim)
        await device.set_intensity(9)
        await device.set_heat(40.0)
        await device.flush()
        await device.stop()
        assert not sim.is_on
        await device.set_intensity(2)
        await device.flush()

    with_device(kind, "tuya-neck", body)
    assert not holder[0].is_on


@KIND
def test_a_stop_by_the_device_itself_is_reported(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        events: list[DeviceEvent] = []
        device.on_event(events.append)
        await device.set_intensity(5)
        await device.flush()
        sim.press_button()
        await wait_for(lambda: any(e.kind is EventKind.SHUTDOWN for e in events), "the stop")

    with_device(kind, "tuya-neck", body)


def test_without_credentials_the_error_says_how_to_get_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("MASSAGER_DEVICES", str(tmp_path) + "/none.toml")

    async def main() -> None:
        # Refused before anything is sent: no TCP connection is even tried.
        for url in ("tuya+tcp://127.0.0.1:9", "tcp://127.0.0.1:9?protocol=tuya_ble"):
            device = massager_sdk.connect(url)
            with pytest.raises(MissingCredentials, match=r"local_key.*Tuya IoT platform.*tinytuya"):
                await device.open()

    run_virtual(main)


def test_a_simulated_device_needs_no_keys() -> None:
    async def main() -> None:
        for url in ("sim://tuya-neck", "tuya+sim://tuya-neck"):
            async with massager_sdk.connect(url) as device:
                assert device.protocol == "tuya_ble"
                assert device.transport.description == "tuya+sim://tuya-neck"
                await device.set_intensity(4)
                await device.flush()
                assert (await device.status()).intensities == (4,)

    run_virtual(main)


def test_credentials_come_from_the_device_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    file = tmp_path / "devices.toml"
    file.write_text(
        '[devices."tuya-neck"]\nlocal_key = "sim0key0neck0001"\n'
        'device_id = "bf0sim0neck0massager01"\nuuid = "tuya0sim0neck001"\n'
    )
    monkeypatch.setenv("MASSAGER_DEVICES", str(file))

    async def main() -> None:
        async with massager_sdk.connect("tuya+sim://tuya-neck", protocol="tuya_ble") as device:
            assert device.info.protocol == "tuya_ble"

    run_virtual(main)


def test_a_wrong_uuid_is_refused_with_a_clear_error_and_a_wrong_device_id_is_not() -> None:
    async def main() -> None:
        device = massager_sdk.connect(
            "tuya+sim://tuya-neck",
            protocol="tuya_ble",
            local_key="sim0key0neck0001",
            device_id="bf0sim0neck0massager01",
            uuid="tuya0someone0els",
        )
        with pytest.raises(ConnectionFailed, match=r"refused pairing.*does not match"):
            await device.open()
        # Tuya's SDK compares the uuid only: another device id pairs (as "bound already").
        async with massager_sdk.connect(
            "tuya+sim://tuya-neck",
            protocol="tuya_ble",
            local_key="sim0key0neck0001",
            device_id="bf0someone0else0000001",
            uuid="tuya0sim0neck001",
        ) as paired:
            assert paired.info.protocol == "tuya_ble"

    run_virtual(main)


def test_the_characteristics_are_found_under_whichever_service_holds_them() -> None:
    # Real Tuya hardware serves 2B11/2B10 under 1910 and only advertises A201: endpoints
    # naming A201 (as hosts long assumed) still reach them.
    endpoints = GattEndpoints(
        service=tuya_gatt.SERVICE_UUID,
        write=tuya_gatt.WRITE_CHAR_UUID,
        notify=tuya_gatt.NOTIFY_CHAR_UUID,
    )

    async def body(device: Device, sim: SimulatedDevice) -> None:
        assert sim.personality.gatt.service_uuid == tuya_gatt.COMMAND_SERVICE_UUID
        await device.set_intensity(3)
        await device.flush()
        assert sim.commanded == (3,)

    with_device("ble", "tuya-neck", body, gatt=endpoints)


@pytest.mark.parametrize(
    ("device_options", "profile_options"),
    [
        ({}, {}),  # the demo, the neck massager's profile
        (
            {"multi_dp_writes": True, "report_after_query": True},
            {"one_dp_per_write": False, "report_after_query": True},
        ),
        ({"multi_dp_writes": True}, {}),  # one a write works on any firmware
    ],
    ids=["demo", "multi-and-query-report", "multi-device-single-writes"],
)
def test_a_session_completes_against_each_firmware_variant(
    device_options: dict[str, object], profile_options: dict[str, object]
) -> None:
    async def main() -> None:
        model = load_model("tuya-neck")
        options = {**model.protocol_options, **device_options}
        sim = SimulatedDevice(dataclasses.replace(model, protocol_options=options))
        base = get_profile("tuya-neck")
        profile = dataclasses.replace(base, options={**base.options, **profile_options})
        async with (
            sim,
            massager_sdk.connect(
                "tuya+sim://tuya-neck",
                simulator=sim,
                device_profile=profile,
                limits=FAST_RAMP,
                local_key=TUYA_CREDENTIALS["local_key"],
                device_id=TUYA_CREDENTIALS["device_id"],
                uuid=TUYA_CREDENTIALS["uuid"],
            ) as device,
        ):
            await device.set_intensity(7, waveform=Waveform.PULSE, period=0.5)
            await device.flush()
            personality = sim.personality
            assert isinstance(personality, TuyaPersonality)
            assert (personality.power, personality.gear, personality.mode) == (True, 6, 2)
            assert (await device.status()).intensities == (7,)
            await device.stop()
            assert not personality.power

    run_virtual(main)
