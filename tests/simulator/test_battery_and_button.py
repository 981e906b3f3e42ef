"""Battery (drain, low battery, shutdown, charging) and the device's button."""

from __future__ import annotations

import asyncio

import pytest
from massager_protocols.nmp import (
    Ack,
    EventCode,
    EventState,
    Fault,
    GetStatus,
    Keepalive,
    MsgType,
    Nack,
    NackCode,
    SetHeat,
    SetOutput,
    Status,
    StopAll,
)
from massager_simulator import FaultConfig, SimulatedDevice

from tests.simulator.nmp_host import NmpHost, virtual


async def run_until(host: NmpHost, done: object, limit_s: float) -> float:
    """Keep the device fed until ``done()`` holds; returns the time it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert callable(done)
    while not done():
        await asyncio.sleep(0.5)
        await host.request(Keepalive())
        assert loop.time() - start < limit_s, "condition never reached"
    return loop.time() - start


def test_motors_and_heater_drain_the_battery_and_the_voltage_falls() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            idle_start = device.battery_pct
            await asyncio.sleep(600)
            assert idle_start is not None and device.battery_pct is not None
            idle_drop = idle_start - device.battery_pct
            mv_before = device.battery_mv
            await host.request(SetOutput(0b1111, 10))
            await host.request(SetHeat(420))
            busy_start = device.battery_pct
            await run_until(host, lambda: not device.is_on, 1000)  # auto-off at 900 s
            assert busy_start is not None and device.battery_pct is not None
            busy_drop = busy_start - device.battery_pct
            assert 0 < idle_drop < busy_drop / 20
            assert device.battery_mv < mv_before
            await host.close()

    virtual(scenario)


def test_low_battery_event_near_ten_percent_and_heat_refused() -> None:
    async def scenario() -> None:
        faults = FaultConfig(drain=40)
        async with SimulatedDevice("heat4", battery_pct=14, faults=faults) as device:
            host = NmpHost(device.connect())
            await host.request(SetOutput(0b11, 6))
            assert await host.request(SetHeat(400)) == Ack(MsgType.SET_HEAT)
            await run_until(host, lambda: device.fault_flags & Fault.LOW_BATTERY, 600)
            low = [e for e in host.events() if e.code == EventCode.LOW_BATTERY]
            assert low and low[0].state == EventState.RAISED and low[0].value == 10
            # The heater, the largest load, went off; the motors keep going.
            assert device.heat_target_c is None and device.commanded[:2] == (6, 6)
            reply = await host.request(SetHeat(400))
            assert reply == Nack(MsgType.SET_HEAT, NackCode.LOW_BATTERY)
            await host.close()

    virtual(scenario)


def test_shutdown_on_an_empty_battery_stops_everything_and_refuses_outputs() -> None:
    async def scenario() -> None:
        faults = FaultConfig(drain=100)
        async with SimulatedDevice("neck2", battery_pct=8, faults=faults) as device:
            host = NmpHost(device.connect())
            await host.request(SetOutput(0b11, 5))
            await run_until(host, lambda: not device.is_on, 600)
            assert device.fault_flags & Fault.BATTERY_CRITICAL
            assert device.battery_pct is not None and 2 < device.battery_pct <= 3
            shutdown = [e for e in host.events() if e.code == EventCode.SHUTDOWN]
            assert shutdown and shutdown[0].state == EventState.RAISED
            await asyncio.sleep(0.01)
            status = host.statuses()[-1][1]
            assert status.faults & Fault.BATTERY_CRITICAL and status.intensities == (0, 0)
            assert status.battery_pct == 3
            reply = await host.request(SetOutput(0b1, 1))
            assert reply == Nack(MsgType.SET_OUTPUT, NackCode.LOW_BATTERY)
            assert not device.is_on
            # Stopping is always allowed.
            assert await host.request(SetOutput(0b1, 0)) == Ack(MsgType.SET_OUTPUT)
            assert await host.request(StopAll()) == Ack(MsgType.STOP_ALL)
            await host.close()

    virtual(scenario)


def test_charging_raises_events_sets_the_charging_bit_and_recovers_from_shutdown() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("neck2", battery_pct=2.5) as device:
            host = NmpHost(device.connect())
            await asyncio.sleep(2)
            assert device.fault_flags & Fault.BATTERY_CRITICAL
            device.set_charging(True)
            await asyncio.sleep(0.01)
            charger = [e for e in host.events() if e.code == EventCode.CHARGER]
            assert charger and charger[0].state == EventState.RAISED
            status = await host.request(GetStatus())
            assert isinstance(status, Status) and status.charging
            await asyncio.sleep(3 * 3600)  # 500 mA into 1200 mAh: full in under 2.5 h
            assert not device.fault_flags & (Fault.BATTERY_CRITICAL | Fault.LOW_BATTERY)
            assert device.battery_pct == pytest.approx(100)
            states = [(e.code, e.state) for e in host.events()]
            assert (EventCode.SHUTDOWN, EventState.CLEARED) in states
            assert (EventCode.LOW_BATTERY, EventState.CLEARED) in states
            assert await host.request(SetOutput(0b1, 2)) == Ack(MsgType.SET_OUTPUT)
            device.set_charging(False)
            await asyncio.sleep(0.01)
            last = [e for e in host.events() if e.code == EventCode.CHARGER][-1]
            assert last.state == EventState.CLEARED
            await host.close()

    virtual(scenario)


def test_a_mains_device_reports_no_battery_and_has_no_charger() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("handheld") as device:
            host = NmpHost(device.connect())
            status = await host.request(GetStatus())
            assert isinstance(status, Status)
            assert status.battery_pct is None and status.battery_mv == 0
            assert status.temperature_dc is None
            with pytest.raises(ValueError, match="mains"):
                device.set_charging(True)
            await host.close()

    virtual(scenario)
    with pytest.raises(ValueError, match="mains"):
        SimulatedDevice("handheld", battery_pct=50)


def test_the_button_stops_everything_with_a_momentary_event() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            await host.request(SetOutput(0b1111, 6))
            await host.request(SetHeat(400))
            await asyncio.sleep(1)
            device.press_button()
            assert not device.is_on and device.levels == (0, 0, 0, 0)
            await asyncio.sleep(0.01)
            button = [e for e in host.events() if e.code == EventCode.BUTTON]
            assert [(e.state, e.value) for e in button] == [(EventState.MOMENTARY, 0)]
            status = host.statuses()[-1][1]
            assert status.intensities == (0, 0, 0, 0) and status.heat_target_dc == 0
            # Nothing latched: the host may start again at once.
            assert device.fault_flags == Fault(0)
            assert await host.request(SetOutput(0b1, 2)) == Ack(MsgType.SET_OUTPUT)
            await host.close()

    virtual(scenario)
