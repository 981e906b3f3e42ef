"""Checks of faults a host cannot cause by itself (spec sections 7.4 to 7.6 and 12).

A sensor failing, a heater stuck on, a flat battery and the button are caused
through the probe's bench: the device's test mode, which the first check here
enters (and the last leaves), or a test bench given to the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import suppress

from massager_protocols.nmp import (
    STUCK_AT_READING,
    TEST_ENTRY_WINDOW_S,
    EnterTestMode,
    EventCode,
    EventState,
    ExitTestMode,
    Fault,
    Feature,
    GetInfo,
    Info,
    Keepalive,
    Nack,
    NackCode,
    SetHeat,
    StopAll,
    TestFault,
    TestInject,
)

from massager_sdk.conformance.bench import Bench, WireBench
from massager_sdk.conformance.core import (
    CheckFailed,
    Checks,
    NotTestable,
    Probe,
    all_off,
    everything_on,
    has_heat,
    lowest_heat,
    one_on,
    require_info,
    send_every,
    show,
)

#: The checks of this module, in the order they run.
CHECKS = Checks()
check = CHECKS.check


#: How long a device may take to notice an injected fault and report it.
FAULT_S = 3.0
#: How long a heater stuck on may take to reach the cut-off, and the pad to cool.
HEAT_S = 240.0
#: Battery levels to read on the way down, looking for the low and shutdown levels
#: (INFO does not state them; 7.5 says "about 10 %" and "about 3 %").
_BATTERY_STEPS: tuple[int, ...] = (30, 25, 20, 18, 16, *range(15, -1, -1))


def _bench(probe: Probe, what: str) -> Bench:
    """The bench that causes faults, or ``NotTestable`` saying why there is none."""
    if probe.bench is None:
        raise NotTestable(
            f"{what} needs the device's test mode ({probe.test_mode_note}) or a test bench"
        )
    return probe.bench


def _enter_for(info: Info) -> EnterTestMode:
    return EnterTestMode.for_serial(info.serial)


async def _fresh_info(probe: Probe) -> None:
    """GET_INFO: opens the link's test-mode entry window (12.1)."""
    reply = await probe.request(GetInfo())
    if not isinstance(reply, Info):
        raise CheckFailed(f"GET_INFO: expected INFO, got {show(reply)}")


@check("test mode is entered only by its deliberate sequence", "12.1")
async def _test_mode_entry(probe: Probe) -> str:
    info = require_info(probe)
    refused = NackCode.TEST_MODE_REFUSED
    enter = _enter_for(info)
    if not info.has(Feature.TEST_MODE):
        probe.test_mode_note = "INFO does not offer it: not built for test"
        for message in (enter, ExitTestMode(), TestInject(int(TestFault.BUTTON))):
            await probe.expect_nack(message, NackCode.UNKNOWN_TYPE)
        return "not offered; its three messages are unknown types, as in production"
    probe.test_mode_note = "offered, but it could not be entered"
    # An injection outside test mode changes nothing (the output stays on).
    await probe.expect_ack(one_on())
    await probe.expect_nack(TestInject(int(TestFault.BUTTON)), refused)
    await probe.wait_status(lambda s: s.intensities[0] == 1, "zone 0 still on")
    await probe.expect_ack(StopAll())
    await probe.expect_nack(ExitTestMode(), refused)
    wrong = [
        ("a wrong magic", dataclasses.replace(enter, magic=enter.magic ^ 1)),
        ("another device's serial", dataclasses.replace(enter, serial_crc=enter.serial_crc ^ 1)),
    ]
    for what, message in wrong:
        await _fresh_info(probe)
        reply = await probe.request(message)
        if not (isinstance(reply, Nack) and reply.code == refused):
            raise CheckFailed(
                f"ENTER_TEST_MODE with {what}: expected NACK {refused.name}, got {show(reply)}"
            )
    # The wrong attempt closed the window: even the right request needs a new INFO.
    await probe.expect_nack(enter, refused)
    await _fresh_info(probe)
    await probe.expect_ack(one_on())
    await probe.expect_nack(enter, refused)  # something is on
    await probe.expect_ack(StopAll())
    await _fresh_info(probe)
    await asyncio.sleep(TEST_ENTRY_WINDOW_S + 0.5)
    await probe.expect_nack(enter, refused)  # INFO too old
    await _fresh_info(probe)
    await probe.expect_ack(enter)
    probe.test_mode, probe.bench = True, WireBench(probe.request)
    return "refused on a wrong magic or serial, without a fresh INFO, with an output on; entered"


@check("the button stops everything and sends EVENT BUTTON", "7.6")
async def _button(probe: Probe) -> str:
    info = require_info(probe)
    if not info.has(Feature.BUTTON):
        raise NotTestable("the device advertises no button")
    bench = _bench(probe, "pressing the button")
    probe.drain_events()
    await everything_on(probe, info)
    await bench.inject(TestFault.BUTTON)
    event = await probe.wait_event(EventCode.BUTTON, 1.0)
    if event.state != EventState.MOMENTARY:
        raise CheckFailed(f"EVENT BUTTON state {event.state}; momentary (2) expected")
    status = await probe.status()
    if not all_off(status):
        raise CheckFailed(f"after the button the device still runs: {status}")
    return f"stopped, EVENT BUTTON momentary; pressed {bench.how}"


async def _one_sensor_fault(probe: Probe, bench: Bench, info: Info, fault: TestFault) -> None:
    lowest = lowest_heat(info)
    probe.drain_events()
    await probe.expect_ack(one_on())
    await probe.expect_ack(SetHeat(lowest))
    await probe.wait_status(lambda s: s.intensities[0] == 1, "zone 0 at level 1")
    done = asyncio.Event()
    feeder = asyncio.ensure_future(send_every(probe, Keepalive(), info.watchdog_ms / 3000, done))
    try:
        value = 0 if fault != TestFault.SENSOR_STUCK else STUCK_AT_READING
        await bench.inject(fault, value)
        # A stuck sensor shows only once the pad should have warmed: give it a minute.
        limit = 60.0 if fault == TestFault.SENSOR_STUCK else FAULT_S
        await probe.wait_event(EventCode.SENSOR_FAULT, limit, EventState.RAISED)
        status = await probe.status()
        if status.heat_target_dc or not status.faults & Fault.SENSOR:
            raise CheckFailed(
                f"{fault.name}: after SENSOR_FAULT the heater is not off and locked: {status}"
            )
        if not status.intensities[0]:
            raise CheckFailed(f"{fault.name}: a sensor fault stopped the motors too: {status}")
        if status.temperature_dc is not None:
            raise CheckFailed(
                f"{fault.name}: STATUS reports {status.temperature_dc / 10:.1f} C from a faulted "
                f"sensor; -2048 (none) expected while the fault lasts (6.4)"
            )
        await probe.expect_nack(SetHeat(lowest), NackCode.HEAT_LOCKED)
        # Precedence (7.3): a value out of range is named before the lock.
        await probe.expect_nack(SetHeat(info.heat_limit_dc + 1), NackCode.OUT_OF_RANGE)
    finally:
        done.set()
        await feeder
        await probe.expect_ack(StopAll())
        await bench.inject(TestFault.SENSOR_OK)
    await probe.wait_event(EventCode.SENSOR_FAULT, FAULT_S, EventState.CLEARED)
    await probe.expect_ack(SetHeat(lowest))
    await probe.expect_ack(SetHeat(0))


@check("a sensor fault cuts the heater and locks heat until it clears", "6.4, 7.3, 7.4")
async def _sensor_fault(probe: Probe) -> str:
    info = require_info(probe)
    if not has_heat(info):
        raise NotTestable("the device advertises no heater")
    bench = _bench(probe, "a failing temperature sensor")
    faults = [TestFault.SENSOR_OPEN, TestFault.SENSOR_SHORT, TestFault.SENSOR_STUCK]
    for fault in faults:
        await _one_sensor_fault(probe, bench, info, fault)
    names = ", ".join(f.name.removeprefix("SENSOR_").lower() for f in faults)
    return (
        f"{names}: heater off, motors on, SENSOR set, no reading, HEAT_LOCKED, cleared; {bench.how}"
    )


@check("a heater stuck on is cut off at the limit and locked until the pad cools", "7.4")
async def _overheat(probe: Probe) -> str:
    info = require_info(probe)
    if not has_heat(info):
        raise NotTestable("the device advertises no heater")
    bench = _bench(probe, "a heater driver stuck on")
    lowest = lowest_heat(info)
    probe.drain_events()
    await probe.expect_ack(SetHeat(lowest))
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    feeder = asyncio.ensure_future(send_every(probe, Keepalive(), info.watchdog_ms / 3000, done))
    hottest = -0x800
    try:
        await bench.inject(TestFault.HEATER_STUCK_ON, 1)
        raised = await probe.wait_event(EventCode.OVERHEAT, HEAT_S, EventState.RAISED)
        if raised.value > info.heat_limit_dc:
            raise CheckFailed(
                f"OVERHEAT raised at {raised.value / 10:.1f} C, above the "
                f"{info.heat_limit_dc / 10:.1f} C limit"
            )
        status = await probe.status()
        if status.heat_target_dc or not status.faults & Fault.OVERHEAT:
            raise CheckFailed(f"after OVERHEAT the heater is not off and locked: {status}")
        await probe.expect_nack(SetHeat(lowest), NackCode.HEAT_LOCKED)
        # The cut-off disconnects the heater whatever its driver does: the pad cools.
        deadline = loop.time() + HEAT_S
        while True:
            status = await probe.status()
            hottest = max(hottest, status.temperature_dc or hottest)
            if not status.faults & Fault.OVERHEAT:
                break
            if loop.time() > deadline:
                raise CheckFailed(f"OVERHEAT still set {HEAT_S:.0f} s after the cut-off: {status}")
            await asyncio.sleep(0.5)
    finally:
        done.set()
        await feeder
        await probe.expect_ack(StopAll())
        await bench.inject(TestFault.HEATER_STUCK_ON, 0)
    cleared = await probe.wait_event(EventCode.OVERHEAT, FAULT_S, EventState.CLEARED)
    if hottest > info.heat_limit_dc:
        raise CheckFailed(f"the pad read {hottest / 10:.1f} C after the cut-off, above the limit")
    if cleared.value > info.heat_limit_dc - 20:
        raise CheckFailed(
            f"OVERHEAT cleared at {cleared.value / 10:.1f} C: the hysteresis is under 2.0 C"
        )
    await probe.expect_ack(SetHeat(lowest))
    await probe.expect_ack(SetHeat(0))
    return (
        f"cut off at {raised.value / 10:.1f} C, at most {hottest / 10:.1f} C after, cleared at "
        f"{cleared.value / 10:.1f} C; {bench.how}"
    )


async def _battery_down(probe: Probe, bench: Bench, code: EventCode, start: int) -> int:
    """Step the battery down from ``start`` until EVENT ``code`` RAISED; the level it did."""
    for level in (pct for pct in _BATTERY_STEPS if pct <= start):
        await bench.inject(TestFault.BATTERY_LEVEL, level)
        try:
            event = await probe.wait_event(code, 1.5, EventState.RAISED)
        except CheckFailed:
            continue
        if event.value != level:
            raise CheckFailed(f"EVENT {code.name} value {event.value}; the battery read {level} %")
        return level
    raise CheckFailed(f"no EVENT {code.name} RAISED with the battery read down to 0 %")


@check("low battery cuts the heater, critical stops everything; both clear 2 % above", "7.3, 7.5")
async def _battery(probe: Probe) -> str:
    info = require_info(probe)
    if not info.has(Feature.BATTERY):
        raise NotTestable("the device advertises no battery")
    bench = _bench(probe, "a battery running down")
    heat = has_heat(info)
    lowest = lowest_heat(info)
    probe.drain_events()
    await everything_on(probe, info)
    done = asyncio.Event()
    feeder = asyncio.ensure_future(send_every(probe, Keepalive(), info.watchdog_ms / 3000, done))
    try:
        low = await _battery_down(probe, bench, EventCode.LOW_BATTERY, 100)
        status = await probe.status()
        if not status.faults & Fault.LOW_BATTERY or status.heat_target_dc:
            raise CheckFailed(f"at {low} %: LOW_BATTERY yet heater on or flag clear: {status}")
        if heat:
            await probe.expect_nack(SetHeat(lowest), NackCode.LOW_BATTERY)
        shutdown = await _battery_down(probe, bench, EventCode.SHUTDOWN, low)
        status = await probe.status()
        if not status.faults & Fault.BATTERY_CRITICAL or not all_off(status):
            raise CheckFailed(f"at {shutdown} %, SHUTDOWN but the device is not stopped: {status}")
        await probe.expect_nack(one_on(), NackCode.LOW_BATTERY)
    finally:
        done.set()
        await feeder
        await probe.expect_ack(StopAll())
    try:
        await bench.inject(TestFault.BATTERY_LEVEL, shutdown + 3)
        await probe.wait_event(EventCode.SHUTDOWN, FAULT_S, EventState.CLEARED)
        await probe.expect_ack(one_on())
        await probe.expect_ack(StopAll())
        await bench.inject(TestFault.BATTERY_LEVEL, low + 3)
        await probe.wait_event(EventCode.LOW_BATTERY, FAULT_S, EventState.CLEARED)
        if heat:
            await probe.expect_ack(SetHeat(lowest))
            await probe.expect_ack(SetHeat(0))
    finally:
        await bench.inject(TestFault.BATTERY_LEVEL, -1)
    return f"low at {low} %, shutdown at {shutdown} %, both cleared 3 % above; {bench.how}"


@check("test mode ends with EXIT_TEST_MODE and with its link", "12.1")
async def _test_mode_exit(probe: Probe) -> str:
    info = require_info(probe)
    if not probe.test_mode:
        raise NotTestable(f"test mode: {probe.test_mode_note}")
    await probe.expect_ack(ExitTestMode())
    probe.test_mode, probe.bench = False, probe.fallback_bench
    await probe.expect_nack(TestInject(int(TestFault.BUTTON)), NackCode.TEST_MODE_REFUSED)
    if probe.open_second is None:
        return "left with EXIT_TEST_MODE (one link: its loss not tested)"
    second = await probe.open_second()
    try:
        await _fresh_info(second)
        await second.expect_ack(_enter_for(info))
        await _fresh_info(probe)
        await probe.expect_nack(_enter_for(info), NackCode.TEST_MODE_REFUSED)  # one link only
    finally:
        with suppress(Exception):
            await second.transport.close()
    await asyncio.sleep(0.5)
    await _fresh_info(probe)
    await probe.expect_ack(_enter_for(info))  # the lost link's test mode is gone
    await probe.expect_ack(ExitTestMode())
    return "left with EXIT_TEST_MODE and with the loss of its link; one link at a time"
