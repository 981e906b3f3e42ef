"""One behavioural suite, run over every transport against each protocol's simulated massager.

The cases use the public API only; what differs between protocols is what the
device can do. A case whose capability a protocol's devices lack is not
generated for it (each such list says why).
"""

from __future__ import annotations

import asyncio

import pytest
from massager_simulator import SimulatedDevice

import massager_sdk
from massager_sdk import DeviceRefused, SafetyRefusal
from massager_sdk.client import Device
from massager_sdk.model import DeviceEvent, DeviceStatus, Pattern, PatternStep, Waveform
from massager_sdk.safety import SafetyLimits
from tests.client.rig import (
    FAST_RAMP,
    PROTOCOL_MODELS,
    PROTOCOLS,
    TRANSPORTS,
    device_url,
    run,
    wait_for,
    with_device,
)

pytestmark = pytest.mark.parametrize("kind", TRANSPORTS)

EVERY_PROTOCOL = pytest.mark.parametrize("protocol", PROTOCOLS)
#: "yh" EMS devices have no heater.
HEATED = pytest.mark.parametrize("protocol", ["nmp1", "tuya_ble"])
#: Only NMP/1 devices have several zones and store patterns; "yh" and Tuya
#: devices drive one zone and are streamed their rhythm by the host.
ZONED = PATTERNED = pytest.mark.parametrize("protocol", ["nmp1"])

KNEAD = Pattern((PatternStep(1.0, 0.4), PatternStep(0.3, 0.6)))
HEAT_C = 40.0  # a preset of every heated model


def every_zone(device: Device, level: int) -> tuple[int, ...]:
    return (level,) * len(device.info.zones)


@EVERY_PROTOCOL
def test_connect_reads_the_device_capabilities(kind: str, protocol: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        assert device.connected
        info = device.info
        assert info.protocol == device.protocol == sim.model.protocol == protocol
        assert info.model == sim.model.model
        assert [z.name for z in info.zones] == [z.name for z in sim.model.zones]
        assert info.intensity_steps == sim.model.intensity_steps
        heat = sim.model.heat
        assert (info.heat is None) == (heat is None)
        if info.heat is not None and heat is not None:
            assert info.heat.limit_c == heat.limit_c
        if protocol == "nmp1":  # only an INFO message carries the serial number
            assert info.serial == sim.serial

    with_device(kind, body, model=PROTOCOL_MODELS[protocol])


@EVERY_PROTOCOL
def test_set_intensity_drives_every_zone(kind: str, protocol: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_intensity(4)
        await device.flush()
        assert sim.commanded == every_zone(device, 4)
        assert device.pending_outputs == 0
        await wait_for(lambda: sim.intensities == every_zone(device, 4), "the motors to reach 4")
        status = await device.status()
        assert status.intensities == every_zone(device, 4)
        assert device.last_status == status

    with_device(kind, body, model=PROTOCOL_MODELS[protocol])


@ZONED
def test_set_intensity_addresses_zones_by_index_name_and_list(kind: str, protocol: str) -> None:
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

    with_device(kind, body, model=PROTOCOL_MODELS[protocol])


@HEATED
def test_heat_is_set_and_turned_off(kind: str, protocol: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        # Running first: a Tuya neck massager heats only while it massages.
        await device.set_intensity(2)
        await device.set_heat(HEAT_C)
        await device.flush()
        assert sim.heat_target_c == HEAT_C
        status = await device.status()
        assert status.heat_target_c == HEAT_C
        await device.set_heat(None)
        await device.flush()
        assert sim.heat_target_c is None
        assert sim.commanded == every_zone(device, 2)

    with_device(kind, body, model=PROTOCOL_MODELS[protocol])


@PATTERNED
def test_a_pattern_is_uploaded_once_and_played(kind: str, protocol: str) -> None:
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

    with_device(kind, body, model=PROTOCOL_MODELS[protocol])


@EVERY_PROTOCOL
def test_stop_switches_everything_off(kind: str, protocol: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_intensity(3)
        if device.info.heat is not None:
            await device.set_heat(HEAT_C)
        await device.flush()
        assert sim.is_on
        await device.stop()
        assert sim.commanded == every_zone(device, 0)
        assert sim.heat_target_c is None
        assert not sim.is_on
        assert device.pending_outputs == 0

    with_device(kind, body, model=PROTOCOL_MODELS[protocol])


@EVERY_PROTOCOL
def test_telemetry_and_callbacks_report_status(kind: str, protocol: str) -> None:
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
        assert statuses[-1].intensities == every_zone(device, 2)
        assert seen and seen[-1] == device.last_status
        unsubscribe()
        count = len(seen)
        await device.status()
        assert len(seen) == count

    with_device(kind, body, model=PROTOCOL_MODELS[protocol], status_interval_s=0.5)


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


#: An NMP/1 device names its refusal; a "yh" or Tuya device answers with the
#: value in force, which the adapter reports as NOT_APPLIED. The heat4 model
#: runs on mains power, so its refusal case is the heat one above.
@pytest.mark.parametrize("protocol", ["yh", "tuya_ble"])
def test_a_device_with_a_flat_battery_refuses_to_start(kind: str, protocol: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await asyncio.sleep(1.5)  # the battery check latches "critical"
        await device.set_intensity(5)
        with pytest.raises(DeviceRefused, match="NOT_APPLIED"):
            await device.flush()
        assert sim.commanded == every_zone(device, 0)
        assert device.pending_outputs == 0
        await device.flush()  # reported once

    with_device(kind, body, model=PROTOCOL_MODELS[protocol], battery_pct=2.0)


@EVERY_PROTOCOL
def test_a_safety_refusal_sends_nothing(kind: str, protocol: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_intensity(1)
        await device.flush()
        frames = device.stats.frames_sent
        with pytest.raises(SafetyRefusal) as refused:
            await device.set_intensity(device.info.intensity_steps)
        assert refused.value.limit == "intensity_max"
        assert device.stats.frames_sent == frames
        assert device.pending_outputs == 0
        assert sim.commanded == every_zone(device, 1)

    limits = SafetyLimits(
        ramp_s=0.5, ramp_interval_s=0.05, max_fraction=0.5, overrides=frozenset({"ramp_s"})
    )
    with_device(kind, body, model=PROTOCOL_MODELS[protocol], limits=limits)


@HEATED
def test_heat_above_the_policy_limit_sends_nothing(kind: str, protocol: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_intensity(1)
        await device.flush()
        frames = device.stats.frames_sent
        with pytest.raises(SafetyRefusal) as refused:
            await device.set_heat(HEAT_C)
        assert refused.value.limit == "heat_max"
        assert device.stats.frames_sent == frames
        assert sim.heat_target_c is None

    limits = SafetyLimits(
        ramp_s=0.5, ramp_interval_s=0.05, heat_max_c=38.0, overrides=frozenset({"ramp_s"})
    )
    with_device(kind, body, model=PROTOCOL_MODELS[protocol], limits=limits)


@EVERY_PROTOCOL
def test_leaving_the_block_stops_the_device_before_closing(kind: str, protocol: str) -> None:
    async def scenario() -> None:
        sim = SimulatedDevice(PROTOCOL_MODELS[protocol])
        await sim.start()
        # A second link keeps the simulator from stopping merely because ours closes:
        # what stops it must be the client's stop.
        observer = sim.connect()
        try:
            async with device_url(kind, sim) as (url, extra):
                async with massager_sdk.connect(url, limits=FAST_RAMP, **extra) as device:
                    await device.set_intensity(5)
                    if device.info.heat is not None:
                        await device.set_heat(HEAT_C)
                    await device.flush()
                    assert sim.is_on
                assert not device.connected
                assert not observer.is_closed
                assert sim.commanded == every_zone(device, 0)
                assert sim.heat_target_c is None
        finally:
            observer.close()
            await sim.stop()

    run(kind, scenario)
