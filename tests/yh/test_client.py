"""The client's behaviour against the simulated "yh" EMS massager, over every transport."""

from __future__ import annotations

import asyncio

import pytest
from massager_simulator import SimulatedDevice
from massager_simulator.personalities.yh import YhPersonality

from massager_sdk import DeviceRefused, NotSupported
from massager_sdk.client import Device
from massager_sdk.model import DeviceEvent, EventKind, Waveform
from tests.profiles.suite import KINDS, wait_for, with_device

pytestmark = pytest.mark.parametrize("kind", KINDS)


def test_connect_takes_the_capabilities_from_the_profile(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        info = device.info
        assert info.protocol == "yh"
        assert info.model == "YH EMS Neck"
        assert info.intensity_steps == 19
        assert [z.name for z in info.zones] == ["neck pads"]
        assert info.heat is None and not info.supports_patterns

    with_device(kind, "yh-ems", body)


def test_intensity_and_waveform_become_level_and_program(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_intensity(6, waveform=Waveform.PULSE, period=0.25)
        await device.flush()
        assert sim.commanded == (6,)
        personality = sim.personality
        assert isinstance(personality, YhPersonality)
        assert personality.modes[personality.mode].name == "activate"
        await device.set_intensity(4, waveform=Waveform.WAVE, period=2.5)
        await device.flush()
        assert sim.commanded == (4,)
        assert personality.modes[personality.mode].name == "knead"
        status = await device.status()
        assert status.intensities == (4,)
        assert status.battery_pct == 100

    with_device(kind, "yh-ems", body)


def test_stop_and_leaving_switch_the_device_off(kind: str) -> None:
    holder: list[SimulatedDevice] = []

    async def body(device: Device, sim: SimulatedDevice) -> None:
        holder.append(sim)
        await device.set_intensity(8)
        await device.flush()
        assert sim.is_on
        await device.stop()
        assert sim.commanded == (0,)
        await device.set_intensity(3)
        await device.flush()
        assert sim.is_on

    with_device(kind, "yh-ems", body)
    assert not holder[0].is_on


def test_auto_off_becomes_the_device_timer(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_intensity(2)
        await device.set_auto_off(600)
        await device.flush()
        await wait_for(lambda: round(sim.auto_off_remaining_s / 60) == 10, "the 10-minute timer")

    with_device(kind, "yh-ems", body)


def test_heat_is_not_supported_and_says_so(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        with pytest.raises(NotSupported, match="no heater"):
            await device.set_heat(40.0)

    with_device(kind, "yh-ems", body)


def test_a_level_the_device_refuses_is_reported_and_changes_nothing(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await asyncio.sleep(1.5)  # the battery check latches "critical"
        await device.set_intensity(5)
        with pytest.raises(DeviceRefused, match="NOT_APPLIED"):
            await device.flush()
        assert sim.commanded == (0,)

    with_device(kind, "yh-ems", body, battery_pct=2.0)


def test_a_stop_by_the_device_itself_is_reported(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        events: list[DeviceEvent] = []
        device.on_event(events.append)
        await device.set_intensity(5)
        await device.flush()
        sim.press_button()
        await wait_for(
            lambda: any(e.kind is EventKind.SHUTDOWN for e in events), "the device's own stop"
        )
        assert device.pending_outputs == 0

    with_device(kind, "yh-ems", body)
