"""A monitoring connection (``connect(control=False)``) watches and may stop, never drives.

The controlling host is a raw NMP/1 host on a second link of the same simulated
device, so what the monitor sends (or does not) is all the device hears from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from massager_protocols.nmp import Ack, EventCode, SetHeat, SetOutput
from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk.client import Device
from massager_sdk.errors import NotInControl
from massager_sdk.model import DeviceEvent, EventKind, Pattern, PatternStep
from tests.simulator.nmp_host import NmpHost

ALL_ZONES = 0b1111

Body = Callable[[SimulatedDevice, NmpHost, Device], Awaitable[None]]


def watch_a_running_device(
    body: Body, *, after: Callable[[SimulatedDevice], None] | None = None, **options: Any
) -> None:
    """Another host switches a heat4 on (level 3 everywhere, heat 40 C); a monitor joins.

    ``body`` runs with the monitor open; ``after`` once the monitor has left.
    """

    async def main() -> None:
        async with SimulatedDevice("heat4") as sim:
            host = NmpHost(sim.connect())
            assert isinstance(await host.request(SetOutput(ALL_ZONES, 3)), Ack)
            assert isinstance(await host.request(SetHeat(400)), Ack)
            await asyncio.sleep(0.5)  # the motors spin up (STATUS reports what they run at)
            async with massager_sdk.connect(
                "sim://heat4", simulator=sim, control=False, **options
            ) as monitor:
                await body(sim, host, monitor)
            if after is not None:
                after(sim)
            host.link.close()

    run_virtual(main)


def test_a_monitor_reads_a_running_device_and_leaves_it_running() -> None:
    async def body(sim: SimulatedDevice, host: NmpHost, monitor: Device) -> None:
        assert not monitor.in_control
        status = await monitor.status()
        assert status.intensities == (3, 3, 3, 3) and status.heat_target_c == 40.0
        assert monitor.pending_outputs == 0  # it wants what the device does
        await host.request(SetOutput(ALL_ZONES, 5))  # the other host's session goes on
        await asyncio.sleep(1.5)  # the device's own telemetry reaches the monitor
        last = monitor.last_status
        assert last is not None and last.intensities == (5, 5, 5, 5)

    def after(sim: SimulatedDevice) -> None:
        # Connecting and leaving changed nothing.
        assert sim.commanded == (5, 5, 5, 5) and sim.heat_target_c == 40.0

    watch_a_running_device(body, after=after)


@pytest.mark.parametrize("call", ["set_intensity", "set_heat", "play_pattern", "set_auto_off"])
def test_a_monitor_refuses_to_drive_and_says_how_to(call: str) -> None:
    pattern = Pattern((PatternStep(1.0, 0.5),))

    async def body(sim: SimulatedDevice, host: NmpHost, monitor: Device) -> None:
        attempts = {
            "set_intensity": lambda: monitor.set_intensity(1),
            "set_heat": lambda: monitor.set_heat(None),
            "play_pattern": lambda: monitor.play_pattern(pattern, intensity=1),
            "set_auto_off": lambda: monitor.set_auto_off(60),
        }
        with pytest.raises(NotInControl, match=r"control=False.*control=True"):
            await attempts[call]()
        await asyncio.sleep(1.0)
        assert monitor.stats.output_commands == 0

    def after(sim: SimulatedDevice) -> None:
        assert sim.commanded == (3, 3, 3, 3) and sim.heat_target_c == 40.0

    watch_a_running_device(body, after=after)


def test_a_monitor_never_feeds_the_watchdog_of_a_host_gone_quiet() -> None:
    async def body(sim: SimulatedDevice, host: NmpHost, monitor: Device) -> None:
        quiet_since = asyncio.get_running_loop().time()  # the monitor's handshake just ended
        watchdog_s = sim.model.watchdog_ms / 1000
        events: list[DeviceEvent] = []
        monitor.on_event(events.append)
        # The controlling host says nothing more; the monitor just watches.
        await asyncio.sleep(3 * watchdog_s)
        stops = [t for t, e in sim.event_log if e.code == EventCode.WATCHDOG_STOP]
        assert stops and stops[0] <= quiet_since + watchdog_s + 0.5
        assert sim.commanded == (0, 0, 0, 0) and sim.heat_target_c is None
        assert any(e.kind is EventKind.WATCHDOG_STOP for e in events)
        last = monitor.last_status
        assert last is not None and last.intensities == (0, 0, 0, 0)

    # Even when asked to poll often: a monitor polls nothing.
    watch_a_running_device(body, status_interval_s=0.5)


def test_a_monitor_may_stop_the_device() -> None:
    async def body(sim: SimulatedDevice, host: NmpHost, monitor: Device) -> None:
        await monitor.stop()
        assert sim.commanded == (0, 0, 0, 0) and sim.heat_target_c is None
        assert monitor.pending_outputs == 0

    watch_a_running_device(body)


def test_control_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="control must be True or False"):
        massager_sdk.connect("sim://heat4", control="no")
