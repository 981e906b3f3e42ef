"""Watchdog, auto-off, the heat limit and the host going away."""

from __future__ import annotations

import asyncio

import pytest
from massager_protocols.nmp import (
    Ack,
    Event,
    EventCode,
    EventState,
    Fault,
    GetStatus,
    Keepalive,
    MsgType,
    Nack,
    NackCode,
    SetAutoOff,
    SetHeat,
    SetOutput,
    Status,
)
from massager_simulator import FaultConfig, SimulatedDevice
from massager_simulator.heater import STUCK_AFTER_S

from tests.simulator.nmp_host import NmpHost, virtual


async def sample_until(
    device: SimulatedDevice, host: NmpHost, seconds: float, step: float = 0.05
) -> list[tuple[float, float]]:
    """(time, true pad temperature) every ``step`` seconds, keeping the watchdog fed."""
    loop = asyncio.get_running_loop()
    samples: list[tuple[float, float]] = []
    end = loop.time() + seconds
    next_keepalive = loop.time()
    while loop.time() < end:
        temperature = device.temperature_c
        assert temperature is not None
        samples.append((loop.time(), temperature))
        if loop.time() >= next_keepalive:
            await host.request(Keepalive())
            next_keepalive += 1.0
        await asyncio.sleep(step)
    return samples


@pytest.mark.parametrize("model", ["neck2", "heat4", "handheld"])
def test_watchdog_stops_everything_within_its_timeout(model: str) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with SimulatedDevice(model) as device:
            host = NmpHost(device.connect())
            watchdog_s = device.model.watchdog_ms / 1000
            assert isinstance(await host.request(SetOutput(0b1, 2)), Ack)
            if device.model.heat is not None:
                assert isinstance(await host.request(SetHeat(400)), Ack)
            for _ in range(5):  # fed: keeps running
                await asyncio.sleep(watchdog_s * 0.8)
                await host.request(Keepalive())
            assert device.is_on
            last_frame = loop.time()
            await asyncio.sleep(watchdog_s - 0.05)
            assert device.is_on, "stopped before the advertised timeout"
            await asyncio.sleep(0.05)
            assert not device.is_on, "still running at the advertised timeout"
            assert device.levels[0] == 0.0 and device.heat_target_c is None
            assert device.fault_flags & Fault.WATCHDOG
            await asyncio.sleep(0.01)  # let the host's reader take the frames in
            stop_event = [e for t, e in host.unprompted if isinstance(e, Event)][-1]
            assert (stop_event.code, stop_event.state) == (
                EventCode.WATCHDOG_STOP,
                EventState.RAISED,
            )
            event_time = next(t for t, e in host.unprompted if e is stop_event)
            assert event_time - last_frame <= watchdog_s + 1e-6
            status = host.statuses()[-1][1]
            assert status.faults & Fault.WATCHDOG and not any(status.intensities)
            await host.close()

    virtual(scenario)


def test_any_valid_frame_feeds_the_watchdog_even_a_nacked_one() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("neck2") as device:
            host = NmpHost(device.connect())
            assert isinstance(await host.request(SetOutput(0b11, 3)), Ack)
            for _ in range(10):
                await asyncio.sleep(2.0)
                assert isinstance(await host.request(SetOutput(0b11, 99)), Nack)
            assert device.is_on and not device.fault_flags & Fault.WATCHDOG
            await host.close()

    virtual(scenario)


def test_watchdog_latch_clears_on_the_next_accepted_output_command() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            await host.request(SetOutput(0b1, 4))
            await asyncio.sleep(4)
            assert device.fault_flags & Fault.WATCHDOG
            # A refused command does not clear it; nor does a keepalive.
            assert isinstance(await host.request(SetOutput(0b1, 50)), Nack)
            await host.request(Keepalive())
            assert device.fault_flags & Fault.WATCHDOG
            assert isinstance(await host.request(SetOutput(0b1, 4)), Ack)
            assert not device.fault_flags & Fault.WATCHDOG
            cleared = host.events()[-1]
            assert (cleared.code, cleared.state) == (EventCode.WATCHDOG_STOP, EventState.CLEARED)
            await host.close()

    virtual(scenario)


def test_an_idle_device_has_no_watchdog_to_trip() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            await asyncio.sleep(60)
            assert device.fault_flags == Fault(0) and host.events() == []
            await host.close()

    virtual(scenario)


def test_auto_off_after_the_default_fifteen_minutes() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            started = loop.time()
            await host.request(SetOutput(0b1111, 5))
            await host.request(SetHeat(380))
            while device.is_on:
                await asyncio.sleep(1)
                await host.request(Keepalive())
            stopped = loop.time()
            assert 899 <= stopped - started <= 901
            assert device.fault_flags & Fault.AUTO_OFF and not device.fault_flags & Fault.WATCHDOG
            event = host.events()[-1]
            assert (event.code, event.state, event.value) == (
                EventCode.AUTO_OFF,
                EventState.RAISED,
                900,
            )
            await host.close()

    virtual(scenario)


def test_auto_off_counts_from_switch_on_and_set_auto_off_shortens_it() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with SimulatedDevice("neck2") as device:
            host = NmpHost(device.connect())
            assert await host.request(SetAutoOff(60)) == Ack(MsgType.SET_AUTO_OFF)
            started = loop.time()
            await host.request(SetOutput(0b01, 2))
            for _ in range(30):
                await asyncio.sleep(1)
                await host.request(Keepalive())
            # More output commands do not restart the count.
            await host.request(SetOutput(0b10, 5))
            status = await host.request(GetStatus())
            assert isinstance(status, Status) and status.auto_off_s == 30
            while device.is_on:
                await asyncio.sleep(0.5)
                await host.request(Keepalive())
            assert 59.5 <= loop.time() - started <= 60.5
            assert device.fault_flags & Fault.AUTO_OFF
            # The next accepted output clears the latch and starts a new count.
            await host.request(SetOutput(0b01, 1))
            assert not device.fault_flags & Fault.AUTO_OFF
            assert device.auto_off_remaining_s == pytest.approx(60)
            await host.close()

    virtual(scenario)


def test_set_auto_off_zero_restores_the_default() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("neck2") as device:
            host = NmpHost(device.connect())
            await host.request(SetAutoOff(100))
            await host.request(SetAutoOff(0))
            await host.request(SetOutput(0b1, 1))
            assert device.auto_off_remaining_s == pytest.approx(900)
            await host.close()

    virtual(scenario)


def test_the_heater_regulates_to_its_target() -> None:
    async def scenario() -> list[tuple[float, float]]:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            await host.request(SetHeat(420))
            samples = await sample_until(device, host, 600, step=1.0)
            await host.close()
            return samples

    samples = virtual(scenario)
    settled = [temp for t, temp in samples if t >= samples[0][0] + 300]
    assert max(settled) - min(settled) < 0.6
    assert all(41.5 <= temp <= 42.5 for temp in settled), (min(settled), max(settled))
    assert max(temp for _, temp in samples) < 45.0


@pytest.mark.parametrize("stuck_at", [None, 30.0, 25.0])
def test_a_stuck_sensor_is_detected_and_the_heater_never_exceeds_its_limit(
    stuck_at: float | None,
) -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            assert isinstance(await host.request(SetHeat(450)), Ack)
            await asyncio.sleep(0.5)
            await host.request(Keepalive())
            # Warm up for a while, then the sensor freezes.
            for _ in range(60):
                await asyncio.sleep(1)
                await host.request(Keepalive())
            stuck_since = asyncio.get_running_loop().time()
            device.inject(sensor="stuck", stuck_c=stuck_at)
            samples = await sample_until(device, host, 600)
            assert max(temp for _, temp in samples) <= 45.0
            assert device.fault_flags & Fault.SENSOR
            detected = next(t for t, e in device.event_log if e.code == EventCode.SENSOR_FAULT)
            # A frozen reading is caught within STUCK_AFTER_S, a lying one sooner.
            assert detected - stuck_since <= STUCK_AFTER_S + 1
            assert device.heat_target_c is None and device.heater_duty == 0.0
            raised = [e for e in host.events() if e.code == EventCode.SENSOR_FAULT]
            assert raised and raised[0].state == EventState.RAISED
            reply = await host.request(SetHeat(400))
            assert reply == Nack(MsgType.SET_HEAT, NackCode.HEAT_LOCKED)
            # Repaired, the sensor is trusted again.
            device.inject(sensor="ok")
            await asyncio.sleep(2)
            assert not device.fault_flags & Fault.SENSOR
            assert await host.request(SetHeat(400)) == Ack(MsgType.SET_HEAT)
            await host.close()

    virtual(scenario)


def test_a_healthy_sensor_is_never_flagged() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            await host.request(SetAutoOff(1200))
            for target in (420, 380, 450, 400):
                assert isinstance(await host.request(SetHeat(target)), Ack)
                await sample_until(device, host, 280, step=1.0)
            await host.request(SetHeat(0))
            await asyncio.sleep(3600)
            assert device.fault_flags == Fault(0)
            assert not [e for _, e in device.event_log if e.code == EventCode.SENSOR_FAULT]
            await host.close()

    virtual(scenario)


def test_a_sensor_stuck_before_heating_starts_is_caught_below_the_limit() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4", faults=FaultConfig(sensor="stuck")) as device:
            host = NmpHost(device.connect())
            assert isinstance(await host.request(SetHeat(450)), Ack)
            samples = await sample_until(device, host, 300)
            assert max(temp for _, temp in samples) <= 45.0
            assert device.fault_flags & Fault.SENSOR

    virtual(scenario)


@pytest.mark.parametrize("mode", ["open", "short"])
def test_an_out_of_range_sensor_is_a_fault_that_turns_the_heater_off(mode: str) -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            await host.request(SetHeat(400))
            await asyncio.sleep(5)
            await host.request(Keepalive())
            device.inject(sensor=mode)
            await asyncio.sleep(1)
            assert device.fault_flags & Fault.SENSOR
            assert device.heat_target_c is None
            status = await host.request(GetStatus())
            assert isinstance(status, Status)
            assert status.temperature_dc is None and status.heat_target_dc == 0
            assert status.faults & Fault.SENSOR
            await host.close()

    virtual(scenario)


def test_a_heater_driver_stuck_on_trips_the_over_temperature_cut_off() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4", faults=FaultConfig(heater_stuck_on=True)) as device:
            host = NmpHost(device.connect())
            assert isinstance(await host.request(SetHeat(380)), Ack)
            samples: list[tuple[float, float]] = []
            while not device.fault_flags & Fault.OVERHEAT:
                samples += await sample_until(device, host, 1.0)
                assert len(samples) < 20 * 300, "the cut-off never tripped"
            samples += await sample_until(device, host, 120)
            assert max(temp for _, temp in samples) <= 45.0
            assert device.heat_target_c is None and device.heater_duty == 0.0
            raised = [e for _, e in device.event_log if e.code == EventCode.OVERHEAT]
            assert raised[0].state == EventState.RAISED
            assert raised[0].value >= 440  # tripped near the limit, in 0.1 C
            # The latch clears once the pad has cooled well below the limit.
            assert [e.state for e in host.events() if e.code == EventCode.OVERHEAT] == [
                EventState.RAISED,
                EventState.CLEARED,
            ]
            await host.close()

    virtual(scenario)


def test_heat_is_locked_while_the_over_temperature_latch_holds() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4", faults=FaultConfig(heater_stuck_on=True)) as device:
            host = NmpHost(device.connect())
            assert isinstance(await host.request(SetHeat(380)), Ack)
            while not device.fault_flags & Fault.OVERHEAT:
                await sample_until(device, host, 0.25)
            reply = await host.request(SetHeat(380))
            assert reply == Nack(MsgType.SET_HEAT, NackCode.HEAT_LOCKED)
            assert device.heat_target_c is None
            await host.close()

    virtual(scenario)


def test_the_host_closing_the_link_stops_the_device() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            await host.request(SetOutput(0b1111, 7))
            await host.request(SetHeat(420))
            assert device.is_on
            await host.close()
            assert not device.is_on and device.heat_target_c is None
            assert device.link_count == 0

    virtual(scenario)


def test_a_second_link_closing_leaves_the_first_hosts_session_running() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("neck2") as device:
            controller = NmpHost(device.connect())
            monitor = NmpHost(device.connect())
            await controller.request(SetOutput(0b11, 3))
            await monitor.close()
            assert device.is_on
            await controller.close()
            assert not device.is_on

    virtual(scenario)
