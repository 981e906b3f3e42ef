"""The session carries out the safety policy: ramps, keepalive, required stops, device events.

All on the virtual clock, against the in-process simulator.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from massager_simulator import SimulatedDevice

from massager_sdk import SafetyRefusal
from massager_sdk.client import Device
from massager_sdk.model import DeviceEvent, EventKind, Pattern, PatternStep, Waveform
from massager_sdk.safety import SafetyLimits
from tests.client.rig import PROTOCOL_MODELS, PROTOCOLS, wait_for, with_device


async def sample(sim: SimulatedDevice, seconds: float, every: float) -> list[int]:
    """Zone 0's commanded level, every ``every`` seconds for ``seconds``."""
    levels = []
    for _ in range(round(seconds / every)):
        levels.append(sim.commanded[0])
        await asyncio.sleep(every)
    return levels


def test_a_rise_starts_soft_and_climbs_at_the_ramp_pace_while_a_fall_is_immediate() -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        policy = device.safety
        await device.set_intensity(10)
        await asyncio.sleep(0)
        levels = await sample(sim, 8.0, 0.01)
        assert levels[-1] == 10
        rises = [b - a for a, b in itertools.pairwise(levels) if b != a]
        assert all(r > 0 for r in rises)  # never back down on the way up
        first = next(level for level in levels if level)
        assert first == 1  # soft start
        assert max(rises) <= policy.ramp_step
        # Never more than one step per ramp interval.
        window = round(policy.ramp_interval_s / 0.01) - 1
        for i in range(len(levels) - window):
            assert levels[i + window] - levels[i] <= policy.ramp_step
        await device.set_intensity(0)
        await asyncio.sleep(device.info.min_gap_s * 2)
        assert sim.commanded == (0, 0, 0, 0)
        assert policy.snapshot(asyncio.get_running_loop().time()).violations == 0

    with_device("sim", body, limits=SafetyLimits())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_keepalive_holds_the_device_on_well_past_its_watchdog(protocol: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_intensity(2)
        await device.flush()
        await asyncio.sleep(10 * device.info.watchdog_s)
        assert sim.commanded == (2,) * len(device.info.zones)
        assert "watchdog" not in (device.last_status.faults if device.last_status else {"?"})
        # The device's own auto-off mirrors the time the policy has left.
        snapshot = device.safety.snapshot(asyncio.get_running_loop().time())
        assert abs(sim.auto_off_remaining_s - snapshot.session_remaining_s) <= 2.0

    with_device("sim", body, model=PROTOCOL_MODELS[protocol])


def test_the_session_limit_stops_the_device_and_refuses_more() -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        events: list[DeviceEvent] = []
        device.on_event(events.append)
        await device.set_intensity(2)
        await device.flush()
        await asyncio.sleep(59.0)
        assert sim.is_on
        await asyncio.sleep(2.0)
        assert not sim.is_on
        kinds = {e.kind for e in events}
        assert kinds & {EventKind.SAFETY_STOP, EventKind.AUTO_OFF}
        with pytest.raises(SafetyRefusal) as refused:
            await device.set_intensity(1)
        assert refused.value.limit in ("rest", "session_max", "emergency_stop")
        assert device.pending_outputs == 0

    with_device("sim", body, limits=SafetyLimits(auto_off_s=60))


def test_a_sensor_fault_turns_the_heat_off_at_once_and_locks_it() -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        events: list[DeviceEvent] = []
        device.on_event(events.append)
        await device.set_heat(40.0)
        await device.flush()
        assert sim.heat_target_c == 40.0
        sim.inject(sensor="open")
        await wait_for(
            lambda: any(e.kind is EventKind.SAFETY_STOP for e in events), "a safety heat-off"
        )
        stop = next(e for e in events if e.kind is EventKind.SAFETY_STOP)
        assert "heat_off" in stop.detail
        assert any(e.kind is EventKind.SENSOR_FAULT and e.active for e in events)
        await device.flush()
        assert sim.heat_target_c is None
        with pytest.raises(SafetyRefusal) as refused:
            await device.set_heat(38.0)
        assert refused.value.limit == "heat_fault"

    with_device("sim", body)


def test_the_device_button_stops_everything_until_resumed() -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        events: list[DeviceEvent] = []
        device.on_event(events.append)
        await device.set_intensity(3)
        await device.set_heat(38.0)
        await device.flush()
        sim.press_button()
        await wait_for(lambda: any(e.kind is EventKind.BUTTON for e in events), "BUTTON")
        await device.flush()
        assert not sim.is_on
        assert device.pending_outputs == 0  # nothing is waiting to switch back on
        await asyncio.sleep(5)
        assert not sim.is_on
        with pytest.raises(SafetyRefusal) as refused:
            await device.set_intensity(1)
        assert refused.value.limit == "emergency_stop"
        device.resume()
        await device.set_intensity(1)
        await device.flush()
        assert sim.commanded == (1, 1, 1, 1)

    with_device("sim", body)


def test_bad_arguments_are_refused_before_anything_is_scheduled() -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        with pytest.raises(ValueError, match="no zone 'chin'"):
            await device.set_intensity(1, "chin")
        with pytest.raises(ValueError, match=r"level 11 is outside 0\.\.10"):
            await device.set_intensity(11)
        with pytest.raises(TypeError, match="level must be an integer"):
            await device.set_intensity(2.5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="WAVE waveform needs period > 0"):
            await device.set_intensity(2, waveform=Waveform.WAVE)
        with pytest.raises(ValueError, match=r"outside 0\.\.45\.0 C"):
            await device.set_heat(60.0)
        with pytest.raises(ValueError, match="phase must be a fraction"):
            await device.play_pattern(Pattern((PatternStep(1.0, 1.0),)), intensity=2, phase=1.5)
        assert device.pending_outputs == 0
        assert device.stats.output_commands == 0

    with_device("sim", body)


def test_zones_ramp_independently_and_heat_does_not_wait_for_a_ramp() -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        policy = device.safety
        await device.set_intensity(10, 0)
        await asyncio.sleep(1.0)
        await device.set_intensity(10, 1)
        await device.set_heat(40.0)
        await asyncio.sleep(0.1)
        assert sim.heat_target_c == 40.0  # long before either ramp ends
        assert sim.commanded[1] == 1  # zone 1 started its own soft start at once
        assert 1 < sim.commanded[0] < 10
        await device.flush()
        assert sim.commanded[:2] == (10, 10)
        assert policy.snapshot(asyncio.get_running_loop().time()).violations == 0

    with_device("sim", body, limits=SafetyLimits())
