"""Bounded telemetry, pattern slots, waveforms: in-process, on the virtual clock."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from massager_simulator import SimulatedDevice, load_model
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk import NotSupported
from massager_sdk.client import Device
from massager_sdk.model import DeviceEvent, DeviceStatus, Pattern, PatternStep, Waveform
from tests.client.rig import with_device


def test_a_slow_consumer_loses_the_oldest_items_and_memory_stays_bounded() -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        stream = device.telemetry(buffer=3)
        await device.set_intensity(1)
        await device.flush()
        for _ in range(20):
            await device.status()  # each reply is also a status in the stream
        assert stream.dropped >= 17
        assert device.stats.telemetry_dropped >= stream.dropped
        items = [await stream.__anext__() for _ in range(3)]
        assert all(isinstance(i, DeviceStatus) for i in items)
        assert items[-1] == device.last_status  # the newest were kept
        await stream.aclose()

    with_device("sim", body)


def test_telemetry_ends_when_the_device_closes() -> None:
    async def scenario() -> None:
        async with massager_sdk.connect() as device:
            stream = device.telemetry()
            await device.status()
        items: list[DeviceStatus | DeviceEvent] = [item async for item in stream]
        assert items and isinstance(items[-1], DeviceStatus)

    run_virtual(scenario)


def test_a_failing_callback_does_not_break_the_session() -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        def broken(status: DeviceStatus) -> None:
            raise RuntimeError("callback bug")

        device.on_status(broken)
        await device.set_intensity(2)
        await device.flush()
        await device.status()
        assert sim.commanded == (2, 2, 2, 2)

    with_device("sim", body)


def test_a_wave_makes_the_motor_swell_and_subside() -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_intensity(6, 0, waveform=Waveform.WAVE, period=2.0)
        await device.flush()
        await asyncio.sleep(1.0)
        levels = []
        for _ in range(40):
            levels.append(sim.levels[0])
            await asyncio.sleep(0.05)
        assert min(levels) < 1.0 and max(levels) > 5.0

    with_device("sim", body)


def patterns(n: int) -> list[Pattern]:
    return [Pattern((PatternStep(1.0, 0.1 * (i + 1)), PatternStep(0.2, 0.3))) for i in range(n)]


def test_pattern_slots_are_reused_least_recently_used_first() -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        slots = device.info.pattern_slots  # 4 on the neck2
        many = patterns(slots + 2)
        for pattern in many:
            await device.play_pattern(pattern, 0, intensity=2)
            await device.flush()
        assert device.stats.pattern_uploads == slots + 2
        await device.play_pattern(many[-1], 1, intensity=2)  # still loaded
        await device.flush()
        assert device.stats.pattern_uploads == slots + 2
        assert sim.commanded == (2, 2)

    with_device("sim", body, model="neck2")


def test_patterns_too_long_are_refused_up_front() -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        too_long = Pattern(tuple(PatternStep(0.5, 0.1) for _ in range(17)))
        with pytest.raises(ValueError, match="17 steps is longer than the 16"):
            await device.play_pattern(too_long, intensity=2)
        assert device.pending_outputs == 0
        assert device.stats.pattern_uploads == 0

    with_device("sim", body, model="neck2")


def test_when_every_slot_is_playing_a_new_pattern_is_refused() -> None:
    one_slot = dataclasses.replace(load_model("neck2"), pattern_slots=1)

    async def body(device: Device, sim: SimulatedDevice) -> None:
        first, second = patterns(2)
        await device.play_pattern(first, 0, intensity=2)
        await device.flush()
        with pytest.raises(ValueError, match=r"all 1 pattern slots .* are playing"):
            await device.play_pattern(second, 1, intensity=2)
        await device.set_intensity(0, 0)  # the slot is free again once zone 0 stops
        await device.flush()
        await device.play_pattern(second, 1, intensity=2)
        await device.flush()
        assert sim.commanded == (0, 2)
        assert device.stats.pattern_uploads == 2

    with_device("sim", body, model=one_slot)


def test_a_device_without_a_heater_says_so() -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        with pytest.raises(NotSupported, match="has no heater"):
            await device.set_heat(40.0)
        await device.set_heat(None)  # off is always fine
        assert device.stats.output_commands == 0

    with_device("sim", body, model="handheld")
