"""The controller through the simulator: whole requests, programs, stops, one state."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

import pytest
from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk.client import Device
from massager_sdk.control import ControlError, Controller, ControlRequest, Shape
from massager_sdk.errors import SafetyRefusal
from massager_sdk.model import Pattern, PatternStep, Waveform
from tests.client.rig import FAST_RAMP


@contextlib.asynccontextmanager
async def controlled() -> AsyncIterator[tuple[SimulatedDevice, Device, Controller]]:
    """A simulated heat4, the client connected to it, and a controller over that."""
    async with (
        SimulatedDevice("heat4") as sim,
        massager_sdk.connect("sim://heat4", simulator=sim, limits=FAST_RAMP) as device,
    ):
        yield sim, device, Controller(device)


def test_a_refused_part_leaves_every_output_as_it_was() -> None:
    async def main() -> None:
        async with controlled() as (sim, device, control):
            await control.apply(ControlRequest(zones=((0, 3),)))
            await control.wait_acknowledged()
            assert sim.commanded == (3, 0, 0, 0)
            steps = device.info.intensity_steps
            with pytest.raises(ControlError):  # beyond the device
                await control.apply(ControlRequest(zones=((1, 2), (0, steps + 1)), heat=40.0))
            with pytest.raises(SafetyRefusal):  # the device has it, the policy refuses it
                await control.apply(ControlRequest(zones=((1, 2),), heat=44.0))
            await asyncio.sleep(2.0)
            assert sim.commanded == (3, 0, 0, 0) and sim.heat_target_c is None
            assert control.outputs().levels == (3, 0, 0, 0)

    run_virtual(main)


def test_a_program_and_manual_settings_do_not_fight() -> None:
    async def main() -> None:
        async with controlled() as (sim, _device, control):
            with pytest.raises(ControlError) as none:
                await control.apply(ControlRequest(action="pause"))
            assert none.value.kind == "no_program"
            await control.apply(ControlRequest(program="office-break"))
            await asyncio.sleep(20.0)
            assert control.program_running()
            with pytest.raises(ControlError) as refused:
                await control.apply(ControlRequest(intensity=2))
            assert refused.value.kind == "program_running"
            await control.apply(ControlRequest(action="pause"))
            await asyncio.sleep(1.0)
            assert control.state().to_dict()["program_state"] == "paused"
            assert not sim.is_on
            await control.apply(ControlRequest(program="none"))
            assert not control.program_running()
            assert control.state().to_dict()["program"] == "none"
            await control.apply(ControlRequest(intensity=2))
            await control.wait_acknowledged()
            assert sim.commanded == (2, 2, 2, 2)

    run_virtual(main)


def test_a_stop_by_another_link_ends_the_program_for_good() -> None:
    async def main() -> None:
        async with controlled() as (sim, device, control):
            await control.apply(ControlRequest(program="office-break"))
            on = asyncio.Event()
            device.on_status(lambda status: on.set() if any(status.intensities) else None)
            await asyncio.wait_for(on.wait(), 60.0)  # the program drives the device
            assert sim.is_on
            async with massager_sdk.connect("sim://heat4", simulator=sim, control=False) as other:
                await other.stop()
            final = await asyncio.wait_for(control.wait_program(), 10.0)
            assert final is not None and final.state == "stopped"
            assert control.program_ended is not None
            assert "another host" in control.program_ended
            for _ in range(60):  # a minute of what the program would have played
                await asyncio.sleep(1.0)
                assert not sim.is_on, sim.commanded
            state = control.state().to_dict()
            assert state["state"] == "OFF" and state["program"] == "none"
            assert state["safety"]["stop_reason"] == "another host or link stopped the device"

    run_virtual(main)


def test_an_emergency_stop_holds_until_an_explicit_start() -> None:
    async def main() -> None:
        async with controlled() as (sim, device, control):
            await control.apply(ControlRequest(intensity=3, heat=38.0))
            await control.wait_acknowledged()
            await control.emergency_stop("test")
            assert not sim.is_on
            with pytest.raises(SafetyRefusal):
                await device.set_intensity(1)
            with pytest.raises(SafetyRefusal):
                await control.apply(ControlRequest(intensity=1))
            await control.apply(ControlRequest(on=True))  # the user's explicit start
            await control.wait_acknowledged()
            assert sim.commanded == (3, 3, 3, 3)

    run_virtual(main)


def test_one_state_document_with_the_device_report() -> None:
    async def main() -> None:
        async with controlled() as (_sim, device, control):
            await control.apply(ControlRequest(zones=((0, 2),)))
            await control.wait_acknowledged()
            await device.status()
            doc = control.state().to_dict(report=True)
            assert doc["state"] == "ON" and doc["intensity"] == 2
            assert list(doc["zones"].values()) == [2, 0, 0, 0]
            # The device's own report: its motor may still spin up to the level.
            assert doc["intensities"][1:] == [0, 0, 0] and doc["auto_off_s"] > 0
            assert doc["safety"]["outputs_on"] is True
            assert "intensities" not in control.state().to_dict()

    run_virtual(main)


TAP = Pattern((PatternStep(1.0, 0.2), PatternStep(0.0, 0.3)))


def test_a_pattern_and_levels_and_heat_apply_together_or_not_at_all() -> None:
    async def main() -> None:
        async with controlled() as (sim, device, control):
            shaped = ControlRequest(
                zones=((0, 4), (1, 4), (2, 2)), heat=44.0, shape=Shape(pattern=TAP, zones=(0, 1))
            )
            with pytest.raises(SafetyRefusal):  # the heat is refused: the pattern goes too
                await control.apply(shaped)
            with pytest.raises(ControlError, match="period"):  # a pulse without its period
                await control.apply(ControlRequest(intensity=3, shape=Shape(Waveform.PULSE)))
            await asyncio.sleep(2.0)
            assert device.stats.pattern_uploads == 0
            assert sim.commanded == (0, 0, 0, 0) and sim.heat_target_c is None
            await control.apply(dataclasses.replace(shaped, heat=40.0))
            await control.wait_acknowledged()
            assert device.stats.pattern_uploads == 1
            assert sim.commanded == (4, 4, 2, 0) and sim.heat_target_c == 40.0
            assert control.outputs().levels == (4, 4, 2, 0)
            await control.apply(ControlRequest(intensity=3, shape=Shape(Waveform.WAVE, 2.0)))
            await control.wait_acknowledged()
            assert sim.commanded == (3, 3, 3, 3)

    run_virtual(main)
