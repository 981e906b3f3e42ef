"""Checks of time: the watchdog, auto-off and telemetry (spec sections 6.5, 7.1, 7.2)."""

from __future__ import annotations

import asyncio

from massager_protocols.nmp import (
    EventCode,
    EventState,
    Fault,
    Keepalive,
    SetAutoOff,
    StopAll,
)

from massager_sdk.conformance.core import (
    CheckFailed,
    Checks,
    Probe,
    all_off,
    everything_on,
    one_on,
    require_info,
    send_every,
)

#: The checks of this module, in the order they run.
CHECKS = Checks()
check = CHECKS.check


@check("the watchdog stops outputs and the heater when the host falls silent", "7.1")
async def _watchdog(probe: Probe) -> str:
    info = require_info(probe)
    probe.drain_events()
    await everything_on(probe, info)
    limit = info.watchdog_ms / 1000
    started = asyncio.get_running_loop().time()
    await probe.wait_event(EventCode.WATCHDOG_STOP, limit * 1.5 + 1.0, EventState.RAISED)
    took = asyncio.get_running_loop().time() - started
    status = await probe.status()
    if not all_off(status) or not status.faults & Fault.WATCHDOG:
        raise CheckFailed(f"after WATCHDOG_STOP the device is not stopped and latched: {status}")
    if took < limit * 0.9:
        raise CheckFailed(f"watchdog fired after {took:.2f} s, before its {limit:.2f} s timeout")
    await probe.expect_ack(one_on())
    status = await probe.status()
    if status.faults & Fault.WATCHDOG:
        raise CheckFailed("the WATCHDOG latch did not clear when an output was switched on")
    return f"stopped after {took:.2f} s (timeout {limit:.2f} s); latch cleared"


@check("auto-off counts down in STATUS, then stops outputs and the heater", "6.5, 7.2")
async def _auto_off(probe: Probe) -> str:
    info = require_info(probe)
    probe.drain_events()
    await probe.expect_ack(SetAutoOff(3))
    await everything_on(probe, info)
    loop = asyncio.get_running_loop()
    started = loop.time()
    done = asyncio.Event()
    feeder = asyncio.ensure_future(send_every(probe, Keepalive(), info.watchdog_ms / 3000, done))
    stopped = False
    try:
        first = (await probe.status()).auto_off_s
        await asyncio.sleep(1.2)
        second = (await probe.status()).auto_off_s
        if not 2 <= first <= 3 or not 0 < second < first:
            raise CheckFailed(
                f"STATUS auto_off_s read {first} then {second} 1.2 s later; "
                "a count down from 3 s expected"
            )
        await probe.expect_ack(SetAutoOff(3))  # sets the limit; never restarts the count
        await probe.wait_event(EventCode.AUTO_OFF, 4.0)
        stopped = True
    finally:
        # Ask the feeder to finish rather than cancel it: on Python 3.11 a
        # cancellation that races a reply inside wait_for() can be swallowed.
        done.set()
        await feeder
        if not stopped:  # leave the device's default for the checks that follow
            await probe.expect_ack(StopAll())
            await probe.expect_ack(SetAutoOff(0))
    took = loop.time() - started
    if took > 3.0 + 0.8:
        raise CheckFailed(
            f"auto-off stopped after {took:.2f} s, not 3 s: "
            "repeating SET_AUTO_OFF restarted the count"
        )
    status = await probe.status()
    if not all_off(status) or not status.faults & Fault.AUTO_OFF:
        raise CheckFailed(f"after AUTO_OFF the device is not stopped and latched: {status}")
    if status.auto_off_s:
        raise CheckFailed(f"STATUS auto_off_s is {status.auto_off_s} with nothing on")
    await probe.expect_ack(SetAutoOff(0))
    await probe.expect_ack(one_on())
    status = await probe.status()
    if status.faults & Fault.AUTO_OFF:
        raise CheckFailed("the AUTO_OFF latch did not clear when an output was switched on")
    return f"{first} s, {second} s, stopped after {took:.2f} s (set to 3 s); latch cleared"


@check("STATUS about once a second while on, once more when off", "6.5")
async def _telemetry(probe: Probe) -> str:
    info = require_info(probe)
    loop = asyncio.get_running_loop()
    await probe.expect_ack(one_on())
    started = loop.time()
    done = asyncio.Event()
    feeder = asyncio.ensure_future(send_every(probe, Keepalive(), info.watchdog_ms / 3000, done))
    try:
        await asyncio.sleep(3.2)
    finally:
        done.set()
        await feeder
    running = [t for t, _ in probe.statuses if t >= started]
    if len(running) < 2:
        raise CheckFailed(
            f"{len(running)} unprompted STATUS in 3.2 s while on; about one a second expected"
        )
    stopped = loop.time()
    await probe.expect_ack(StopAll())
    await asyncio.sleep(1.0)
    after = [s for t, s in probe.statuses if t >= stopped]
    if not after or not all_off(after[-1]):
        raise CheckFailed("no unprompted STATUS showing everything off after STOP_ALL")
    return f"{len(running)} reports in 3.2 s on, the last one after STOP_ALL"


@check("no telemetry while idle", "6.5", required=False)
async def _idle(probe: Probe) -> str:
    await probe.expect_ack(StopAll())
    await asyncio.sleep(1.0)
    quiet = asyncio.get_running_loop().time()
    await asyncio.sleep(2.5)
    idle = [t for t, _ in probe.statuses if t >= quiet]
    if idle:
        raise CheckFailed(f"{len(idle)} unprompted STATUS while idle; none expected")
    return "none in 2.5 s"
