"""Electrical muscle stimulation: the yh-ems device is electrical, its screening refuses
what the labelling of EMS/TENS devices refuses, the front of the neck takes no current,
and programs play at reduced levels on it.

What the device really runs is read from the simulator.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from massager_protocols.nmp import ZonePosition
from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk.capabilities import DeviceCapabilities, Zone
from massager_sdk.client import Device
from massager_sdk.errors import SafetyRefusal
from massager_sdk.programs import ProgramRunner, compile_program, load_program
from massager_sdk.safety import Contraindication, HealthProfile, SafetyPolicy
from tests.profiles.suite import with_device


def person(*names: str) -> HealthProfile:
    return HealthProfile(frozenset(Contraindication(n) for n in names), acknowledged=True)


def caps_of(model: str) -> DeviceCapabilities:
    async def body(device: Device, sim: SimulatedDevice) -> DeviceCapabilities:
        return device.info

    return with_device("sim", model, body)


def test_the_ems_device_profile_says_it_is_electrical() -> None:
    assert caps_of("yh-ems").electrical is True
    assert caps_of("heat4").electrical is False


@pytest.mark.parametrize(
    "contraindication",
    ["pacemaker_or_implant", "epilepsy", "pregnancy", "cardiovascular_disease"],
)
def test_electrical_contraindications_refuse_sessions_on_ems_only(contraindication: str) -> None:
    async def ems(device: Device, sim: SimulatedDevice) -> SafetyRefusal:
        with pytest.raises(SafetyRefusal) as caught:
            await device.set_intensity(3)
        assert sim.commanded == (0,)
        return caught.value

    refusal = with_device("sim", "yh-ems", ems, health_profile=person(contraindication))
    assert refusal.limit == "screening_electrical"
    assert contraindication in str(refusal)

    async def motors(device: Device, sim: SimulatedDevice) -> tuple[int, ...]:
        await device.set_intensity(1)
        await device.flush()
        return sim.commanded

    # On a motor massager the same entry refuses no session (at most it caps levels).
    assert with_device("sim", "neck2", motors, health_profile=person(contraindication)) == (1, 1)


def test_the_front_of_the_neck_takes_no_current() -> None:
    caps = caps_of("yh-ems")
    front = dataclasses.replace(
        caps,
        zones=(Zone(0, "throat", ZonePosition.FRONT_NECK),),
    )
    policy = SafetyPolicy(front, health_profile=person(), ledger=None)
    with pytest.raises(SafetyRefusal) as caught:
        policy.check_output(0, 1, 0.0)
    assert caught.value.limit == "front_neck_electrical"
    assert policy.zone_max(0) == 0
    compiled = compile_program(load_program("classic"), front)
    assert all(o.level == 0 for _, o in compiled.timeline.outputs[0])


def test_programs_play_ems_at_reduced_levels() -> None:
    ems = caps_of("yh-ems")
    motors = dataclasses.replace(ems, electrical=False)
    program = load_program("classic")
    ems_peak = max(o.level for _, o in compile_program(program, ems).timeline.outputs[0])
    motor_peak = max(o.level for _, o in compile_program(program, motors).timeline.outputs[0])
    assert motor_peak == 16  # kneading at 16/19 when the pads were motors
    assert 0 < ems_peak <= 9  # half the range at most on EMS pads
    notes = compile_program(program, ems).notes
    assert any("stimulates electrically" in n for n in notes)


def test_classic_on_the_ems_device_never_drives_it_past_half_its_levels() -> None:
    sim = SimulatedDevice("yh-ems")
    peak = 0

    async def main() -> str:
        nonlocal peak

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, *sim.commanded)
                await asyncio.sleep(0.2)

        async with massager_sdk.connect(
            "sim://yh-ems", simulator=sim, health_profile=person()
        ) as d:
            sampler = asyncio.ensure_future(sample())
            compiled = compile_program(load_program("classic"), d.info)
            final = await ProgramRunner(d, compiled).run()
            sampler.cancel()
            return final.state

    state = run_virtual(main)
    assert state == "completed"
    assert 0 < peak <= 9  # the device itself never ran above 9 of 19
