"""Random sequences of calls, link drops and device events against the simulator.

Whatever happens, the session never tells the device anything the safety
policy would refuse, never leaves a pending output it cannot send, and leaves
the device stopped at the end.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk import MassagerError
from massager_sdk.model import Pattern, PatternStep

PATTERN = Pattern((PatternStep(1.0, 0.3), PatternStep(0.2, 0.5)))

ACTIONS = st.one_of(
    st.tuples(st.just("level"), st.integers(0, 10), st.sampled_from([None, 0, 1, 2, 3])),
    st.tuples(st.just("heat"), st.sampled_from([None, 38.0, 40.0, 42.0])),
    st.tuples(st.just("pattern"), st.integers(1, 10), st.sampled_from([None, 0, 3])),
    st.tuples(st.just("sleep"), st.floats(0.0, 20.0)),
    st.tuples(st.just("stop")),
    st.tuples(st.just("drop")),
    st.tuples(st.just("button")),
    st.tuples(st.just("resume")),
    st.tuples(st.just("flush")),
)


async def act(device: massager_sdk.Device, sim: SimulatedDevice, action: tuple[Any, ...]) -> None:
    kind = action[0]
    try:
        if kind == "level":
            await device.set_intensity(action[1], action[2])
        elif kind == "heat":
            await device.set_heat(action[1])
        elif kind == "pattern":
            await device.play_pattern(PATTERN, action[2], intensity=action[1])
        elif kind == "sleep":
            await asyncio.sleep(action[1])
        elif kind == "stop":
            await device.stop()
        elif kind == "drop":
            sim.drop_links()
        elif kind == "button":
            sim.press_button()
        elif kind == "resume":
            device.resume()
        elif kind == "flush":
            await device.flush()
    except MassagerError:
        pass  # refusals and link trouble are expected along the way


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(ACTIONS, min_size=1, max_size=25))
def test_random_sessions_keep_the_invariants(actions: list[tuple[Any, ...]]) -> None:
    async def scenario() -> None:
        sim = SimulatedDevice("heat4")
        await sim.start()
        observer = sim.connect()  # the device must be stopped by the client, not by a closed link
        device = massager_sdk.connect("sim://", simulator=sim)
        async with device:
            for action in actions:
                await act(device, sim, action)
                heat = sim.heat_target_c
                assert heat is None or heat <= 42.0
                assert max(sim.commanded) <= 10
            await asyncio.sleep(1.0)
            loop = asyncio.get_running_loop()
            assert device.safety.snapshot(loop.time()).violations == 0
        assert not sim.is_on
        observer.close()
        await sim.stop()

    run_virtual(scenario)
