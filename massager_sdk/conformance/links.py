"""Checks of control between links (spec section 7.7)."""

from __future__ import annotations

import asyncio
from contextlib import suppress

from massager_protocols.nmp import (
    EventCode,
    GetStatus,
    Nack,
    NackCode,
    SetOutput,
    StopAll,
    Waveform,
)

from massager_sdk.conformance.core import (
    CheckFailed,
    Checks,
    NotTestable,
    Probe,
    all_off,
    one_on,
    require_info,
    send_every,
    show,
)

#: The checks of this module, in the order they run.
CHECKS = Checks()
check = CHECKS.check


@check("a monitor's frames do not feed the watchdog of another link's outputs", "7.7")
async def _monitor(probe: Probe) -> str:
    info = require_info(probe)
    if probe.open_second is None:
        raise NotTestable("this link cannot be opened twice (one host per link)")
    try:
        monitor = await probe.open_second()
    except (ConnectionError, OSError, TimeoutError) as exc:
        raise NotTestable(f"the device refused a second link: {exc}") from None
    try:
        try:
            await monitor.status()
        except (CheckFailed, ConnectionError, OSError):
            raise NotTestable("the device takes one link at a time (a second is refused)") from None
        probe.drain_events()
        await probe.expect_ack(one_on())
        # The monitor may not take control ...
        reply = await monitor.request(SetOutput(0b1, 2, Waveform.CONSTANT, 0, 0))
        if not (isinstance(reply, Nack) and reply.code == NackCode.BUSY):
            raise CheckFailed(
                f"SET_OUTPUT from a second link while the first controls: {show(reply)}"
            )
        # Precedence (7.3): control is checked before the values.
        await monitor.expect_nack(
            SetOutput(0b1, info.intensity_steps + 1, Waveform.CONSTANT, 0, 0), NackCode.BUSY
        )
        # ... and its polling keeps nothing alive.
        limit = info.watchdog_ms / 1000
        loop = asyncio.get_running_loop()
        started = loop.time()
        stop = asyncio.Event()
        poller = asyncio.ensure_future(
            send_every(monitor, GetStatus(), info.watchdog_ms / 4000, stop)
        )
        try:
            await probe.wait_event(EventCode.WATCHDOG_STOP, limit * 1.5 + 1.0)
        except CheckFailed:
            raise CheckFailed(
                f"a second link polling GET_STATUS kept the outputs on past the "
                f"{limit:.1f} s watchdog"
            ) from None
        finally:
            stop.set()
            await poller
        took = loop.time() - started
        # A stop from the monitor reaches the controlling host as an EVENT.
        await probe.expect_ack(one_on())
        probe.drain_events()
        await monitor.expect_ack(StopAll())
        event = await probe.wait_event(EventCode.LINK_STOP, 1.0)
        status = await probe.status()
        if not all_off(status):
            raise CheckFailed(f"STOP_ALL from a second link did not stop the device: {status}")
    finally:
        with suppress(Exception):
            await monitor.transport.close()
    return f"watchdog after {took:.2f} s despite the monitor; BUSY; STOP_ALL -> EVENT {event.code}"
