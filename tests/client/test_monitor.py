"""A monitoring connection (``connect(control=False)``) watches and may stop, never drives.

The controlling host is a raw NMP/1 host on a second link of the same simulated
device, so what the monitor sends (or does not) is all the device hears from it.
"""

from __future__ import annotations

import asyncio

import pytest
from massager_protocols.nmp import Ack, EventCode, SetHeat, SetOutput
from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk.errors import NotInControl
from massager_sdk.model import DeviceEvent, EventKind, Pattern, PatternStep
from tests.simulator.nmp_host import NmpHost

ALL_ZONES = 0b1111


async def start_running(sim: SimulatedDevice) -> NmpHost:
    """Another host switches the device on (level 3 everywhere, heat 40 C)."""
    host = NmpHost(sim.connect())
    assert isinstance(await host.request(SetOutput(ALL_ZONES, 3)), Ack)
    assert isinstance(await host.request(SetHeat(400)), Ack)
    assert sim.commanded == (3, 3, 3, 3) and sim.heat_target_c == 40.0
    await asyncio.sleep(0.5)  # the motors spin up (STATUS reports what they run at)
    return host


def watchdog_stops(sim: SimulatedDevice) -> list[float]:
    return [t for t, e in sim.event_log if e.code == EventCode.WATCHDOG_STOP]


def test_a_monitor_reads_a_running_device_and_leaves_it_running() -> None:
    async def main() -> None:
        async with SimulatedDevice("heat4") as sim:
            host = await start_running(sim)
            async with massager_sdk.connect("sim://heat4", simulator=sim, control=False) as monitor:
                assert not monitor.in_control
                status = await monitor.status()
                assert status.intensities == (3, 3, 3, 3) and status.heat_target_c == 40.0
                assert monitor.pending_outputs == 0  # it wants what the device does
                await host.request(SetOutput(ALL_ZONES, 5))  # keeps the other host's session
                await asyncio.sleep(1.5)  # the device's own telemetry reaches the monitor
                last = monitor.last_status
                assert last is not None and last.intensities == (5, 5, 5, 5)
            # Connecting and leaving changed nothing.
            assert sim.commanded == (5, 5, 5, 5) and sim.heat_target_c == 40.0
            host.link.close()

    run_virtual(main)


@pytest.mark.parametrize(
    "call",
    ["set_intensity", "set_heat", "play_pattern", "set_auto_off"],
)
def test_a_monitor_refuses_to_drive_and_says_how_to(call: str) -> None:
    pattern = Pattern((PatternStep(1.0, 0.5),))

    async def main() -> None:
        async with SimulatedDevice("heat4") as sim:
            host = await start_running(sim)
            async with massager_sdk.connect("sim://heat4", simulator=sim, control=False) as monitor:
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
            assert sim.commanded == (3, 3, 3, 3) and sim.heat_target_c == 40.0
            host.link.close()

    run_virtual(main)


def test_a_monitor_never_feeds_the_watchdog_of_a_host_gone_quiet() -> None:
    async def main() -> None:
        async with SimulatedDevice("heat4") as sim:
            host = await start_running(sim)
            quiet_since = asyncio.get_running_loop().time()
            watchdog_s = sim.model.watchdog_ms / 1000
            async with massager_sdk.connect(
                "sim://heat4", simulator=sim, control=False, status_interval_s=0.5
            ) as monitor:
                events: list[DeviceEvent] = []
                monitor.on_event(events.append)
                # The controlling host says nothing more; the monitor just watches.
                await asyncio.sleep(3 * watchdog_s)
                stops = watchdog_stops(sim)
                # The monitor's handshake (INFO, STATUS) at connect time is the last
                # frame the device heard from anyone.
                assert stops and stops[0] <= quiet_since + watchdog_s + 0.5
                assert sim.commanded == (0, 0, 0, 0) and sim.heat_target_c is None
                assert any(e.kind is EventKind.WATCHDOG_STOP for e in events)
                last = monitor.last_status
                assert last is not None and last.intensities == (0, 0, 0, 0)
            host.link.close()

    run_virtual(main)


def test_a_monitor_may_stop_the_device() -> None:
    async def main() -> None:
        async with SimulatedDevice("heat4") as sim:
            host = await start_running(sim)
            async with massager_sdk.connect("sim://heat4", simulator=sim, control=False) as monitor:
                await monitor.stop()
                assert sim.commanded == (0, 0, 0, 0) and sim.heat_target_c is None
                assert monitor.pending_outputs == 0
            host.link.close()

    run_virtual(main)


def test_control_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="control must be True or False"):
        massager_sdk.connect("sim://heat4", control="no")  # type: ignore[arg-type]
