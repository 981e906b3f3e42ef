"""Motors: soft-start ramps, waveforms and patterns played on the device's own clock."""

from __future__ import annotations

import asyncio
import math

import pytest
from massager_protocols.nmp import (
    Ack,
    GetStatus,
    Keepalive,
    PatternStep,
    SetOutput,
    Status,
    StopAll,
    UploadPattern,
    Waveform,
)
from massager_simulator import SimulatedDevice

from tests.simulator.nmp_host import NmpHost, virtual


async def keep_alive_for(host: NmpHost, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end - 1e-9:
        await asyncio.sleep(min(1.0, end - loop.time()))
        await host.request(Keepalive())


def test_soft_start_ramps_up_over_the_models_ramp_time() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:  # ramp_ms = 400 full scale
            host = NmpHost(device.connect())
            await host.request(SetOutput(0b1, 10))
            assert device.levels[0] == 0.0
            seen = []
            for _ in range(5):
                await asyncio.sleep(0.1)
                seen.append(device.levels[0])
            assert seen == pytest.approx([2.5, 5.0, 7.5, 10.0, 10.0])
            # Down again, from full to half, at the same slew rate.
            await host.request(SetOutput(0b1, 5))
            await asyncio.sleep(0.1)
            assert device.levels[0] == pytest.approx(7.5)
            await asyncio.sleep(0.2)
            assert device.levels[0] == pytest.approx(5.0)
            await host.close()

    virtual(scenario)


def test_stop_all_stops_at_once_without_ramping() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("neck2") as device:
            host = NmpHost(device.connect())
            await host.request(SetOutput(0b11, 5))
            await asyncio.sleep(1)
            assert device.levels == (5.0, 5.0)
            await host.request(StopAll())
            assert device.levels == (0.0, 0.0) and not device.is_on
            await host.close()

    virtual(scenario)


def test_zones_are_set_independently() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            await host.request(SetOutput(0b0101, 8))
            await host.request(SetOutput(0b0010, 3))
            await asyncio.sleep(1)
            assert device.intensities == (8, 3, 8, 0)
            status = await host.request(GetStatus())
            assert isinstance(status, Status) and status.intensities == (8, 3, 8, 0)
            await host.close()

    virtual(scenario)


def test_pulse_is_on_for_the_first_half_of_each_period() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("neck2") as device:
            host = NmpHost(device.connect())
            await host.request(SetOutput(0b1, 4, Waveform.PULSE, 0, 1000))
            await keep_alive_for(host, 2.0)  # past the ramp, at a period boundary
            levels = []
            for _ in range(8):
                levels.append(device.levels[0])
                await asyncio.sleep(0.25)
            assert levels == [4, 4, 0, 0, 4, 4, 0, 0]
            await host.close()

    virtual(scenario)


def test_wave_swells_smoothly_between_zero_and_the_intensity() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            await host.request(SetOutput(0b1, 10, Waveform.WAVE, 0, 4000))
            await keep_alive_for(host, 4.0)
            for quarter in range(4):
                expected = 10 * (1 - math.cos(2 * math.pi * quarter / 4)) / 2
                assert device.levels[0] == pytest.approx(expected, abs=1e-9)
                await asyncio.sleep(1.0)
                await host.request(Keepalive())
            await host.close()

    virtual(scenario)


def test_an_uploaded_pattern_plays_on_the_device_clock_with_its_phase_offset() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            steps = (PatternStep(100, 500), PatternStep(0, 250), PatternStep(40, 250))
            assert isinstance(await host.request(UploadPattern(3, steps)), Ack)
            # Zone 0 from the start of the loop; zone 1 offset by 500 ms.
            await host.request(SetOutput(0b01, 10, Waveform.PATTERN, 3, 0))
            await host.request(SetOutput(0b10, 10, Waveform.PATTERN, 3, 500))
            start = loop.time()
            await keep_alive_for(host, 3.0)
            # Sample mid-step for many loops: the device keeps time by itself, with
            # no frames but keepalives arriving.
            for loop_index in range(10):
                base = start + 3.0 + loop_index
                for offset_ms, left, right in ((250, 10, 4), (625, 0, 10), (875, 4, 10)):
                    await asyncio.sleep(base + offset_ms / 1000 - loop.time())
                    assert device.intensities[:2] == (left, right), (loop_index, offset_ms)
                await host.request(Keepalive())
            await host.close()

    virtual(scenario)


def test_an_intensity_change_keeps_the_patterns_phase() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with SimulatedDevice("neck2") as device:
            host = NmpHost(device.connect())
            await host.request(UploadPattern(0, (PatternStep(100, 400), PatternStep(0, 600))))
            await host.request(SetOutput(0b1, 5, Waveform.PATTERN, 0, 0))
            start = loop.time()
            await asyncio.sleep(2.2)  # 200 ms into a loop
            await host.request(SetOutput(0b1, 3, Waveform.PATTERN, 0, 0))
            await asyncio.sleep(start + 3.1 - loop.time())  # 100 ms into the next loop
            assert device.intensities[0] == 3
            await asyncio.sleep(0.4)  # 500 ms in: the off step
            assert device.intensities[0] == 0
            await host.close()

    virtual(scenario)


def test_re_uploading_a_playing_pattern_takes_effect_at_once() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("neck2") as device:
            host = NmpHost(device.connect())
            await host.request(UploadPattern(1, (PatternStep(100, 1000),)))
            await host.request(SetOutput(0b10, 5, Waveform.PATTERN, 1, 0))
            await asyncio.sleep(1.5)
            assert device.intensities == (0, 5)
            await host.request(UploadPattern(1, (PatternStep(20, 1000),)))
            assert device.intensities == (0, 1)
            await host.close()

    virtual(scenario)
