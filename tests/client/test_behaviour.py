"""One behavioural suite, run over every transport against the simulated massager."""

from __future__ import annotations

import pytest
from massager_simulator import SimulatedDevice

import massager_sdk
from massager_sdk import DeviceRefused, SafetyRefusal
from massager_sdk.client import Device
from massager_sdk.model import DeviceEvent, DeviceStatus, Pattern, PatternStep, Waveform
from tests.client.rig import FAST_RAMP, TRANSPORTS, device_url, run, wait_for, with_device

pytestmark = pytest.mark.parametrize("kind", TRANSPORTS)

KNEAD = Pattern((PatternStep(1.0, 0.4), PatternStep(0.3, 0.6)))


def test_connect_reads_the_device_capabilities(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        assert device.connected
        info = device.info
        assert info.model == sim.info.model == "NMP Heat 4"
        assert info.serial == sim.serial
        assert [z.name for z in info.zones] == [z.name for z in sim.info.zones]
        assert info.intensity_steps == sim.model.intensity_steps
        assert info.heat is not None and info.heat.limit_c == 45.0
        assert info.protocol == "nmp1"

    with_device(kind, body)


def test_set_intensity_drives_every_zone(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_intensity(4)
        await device.flush()
        assert sim.commanded == (4, 4, 4, 4)
        assert device.pending_outputs == 0
        await wait_for(lambda: sim.intensities == (4, 4, 4, 4), "the motors to reach 4")
        status = await device.status()
        assert status.intensities == (4, 4, 4, 4)
        assert device.last_status == status

    with_device(kind, body)


def test_set_intensity_addresses_zones_by_index_name_and_list(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_intensity(2, "left neck")
        await device.flush()
        assert sim.commanded == (2, 0, 0, 0)
        await device.set_intensity(3, [1, "right shoulder"])
        await device.flush()
        assert sim.commanded == (2, 3, 0, 3)
        await device.set_intensity(1, 2, waveform=Waveform.WAVE, period=1.5)
        await device.flush()
        assert sim.commanded == (2, 3, 1, 3)
        await device.set_intensity(0, None)
        await device.flush()
        assert sim.commanded == (0, 0, 0, 0)

    with_device(kind, body)


def test_heat_is_set_and_turned_off(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_heat(40.0)
        await device.flush()
        assert sim.heat_target_c == 40.0
        status = await device.status()
        assert status.heat_target_c == 40.0
        await device.set_heat(None)
        await device.flush()
        assert sim.heat_target_c is None

    with_device(kind, body)


def test_a_pattern_is_uploaded_once_and_played(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.play_pattern(KNEAD, ["left neck", "right neck"], intensity=5)
        await device.flush()
        assert sim.commanded[:2] == (5, 5)
        uploads = device.stats.pattern_uploads
        assert uploads == 1
        # The same pattern again, half a loop out of phase: no second upload.
        await device.play_pattern(KNEAD, "right neck", intensity=5, phase=0.5)
        await device.flush()
        assert device.stats.pattern_uploads == uploads
        assert sim.commanded[:2] == (5, 5)

    with_device(kind, body)


def test_stop_switches_everything_off(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_intensity(3)
        await device.set_heat(38.0)
        await device.flush()
        assert sim.is_on
        await device.stop()
        assert sim.commanded == (0, 0, 0, 0)
        assert sim.heat_target_c is None
        assert not sim.is_on
        assert device.pending_outputs == 0

    with_device(kind, body)


def test_telemetry_and_callbacks_report_status(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        seen: list[DeviceStatus] = []
        unsubscribe = device.on_status(seen.append)
        await device.set_intensity(2)
        await device.flush()
        items: list[DeviceStatus | DeviceEvent] = []
        async with device.telemetry() as stream:
            async for item in stream:
                items.append(item)
                if sum(isinstance(i, DeviceStatus) for i in items) >= 2:
                    break
        statuses = [i for i in items if isinstance(i, DeviceStatus)]
        assert len(statuses) >= 2
        assert statuses[-1].intensities == (2, 2, 2, 2)
        assert seen and seen[-1] == device.last_status
        unsubscribe()
        count = len(seen)
        await device.status()
        assert len(seen) == count

    with_device(kind, body)


def test_a_device_refusal_names_the_reason_and_changes_nothing(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_heat(40.0)
        await device.flush()
        # Below the device's lowest preset: within every host limit, refused by the device.
        await device.set_heat(30.0)
        with pytest.raises(DeviceRefused) as refused:
            await device.flush()
        assert refused.value.reason == "OUT_OF_RANGE"
        assert refused.value.command == "SET_HEAT"
        assert sim.heat_target_c == 40.0
        await device.flush()  # reported once; the heater keeps its previous target

    with_device(kind, body)


def test_a_safety_refusal_sends_nothing(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_intensity(1)
        await device.flush()
        frames = device.stats.frames_sent
        with pytest.raises(SafetyRefusal) as refused:
            await device.set_heat(44.0)
        assert refused.value.limit == "heat_max"
        assert device.stats.frames_sent == frames
        assert device.pending_outputs == 0
        assert sim.heat_target_c is None

    with_device(kind, body)


def test_leaving_the_block_stops_the_device_before_closing(kind: str) -> None:
    async def scenario() -> None:
        sim = SimulatedDevice("heat4")
        await sim.start()
        # A second link keeps the simulator from stopping merely because ours closes:
        # what stops it must be the client's STOP_ALL.
        observer = sim.connect()
        try:
            async with device_url(kind, sim) as (url, extra):
                async with massager_sdk.connect(url, limits=FAST_RAMP, **extra) as device:
                    await device.set_intensity(5)
                    await device.set_heat(40.0)
                    await device.flush()
                    assert sim.is_on
                assert not device.connected
                assert not observer.is_closed
                assert sim.commanded == (0, 0, 0, 0)
                assert sim.heat_target_c is None
        finally:
            observer.close()
            await sim.stop()

    run(kind, scenario)
