"""A stop by another host ends the bridge's program for good, and the state says why."""

from __future__ import annotations

import asyncio
import json

from massager_simulator import SimulatedDevice

import massager_sdk
from tests.mqtt.broker import BrokerProcess
from tests.mqtt.helpers import add, observer, on_device, running_bridge


async def test_another_hosts_stop_ends_the_program_and_the_state_says_why(
    live_broker: BrokerProcess,
) -> None:
    sim = SimulatedDevice("heat4")
    async with (
        sim,
        running_bridge(live_broker) as setup,
        observer(live_broker, setup.watch) as obs,
    ):
        await add(setup, "sim://heat4", "sofa", simulator=sim)
        await obs.wait(setup.topics.availability("sofa"), lambda p: p == b"online")
        state = setup.topics.state("sofa")
        # A program that heats throughout: the device is on whenever the stop comes.
        await obs.publish(setup.topics.set("sofa"), json.dumps({"program": "evening-heat"}))
        # Played for a while: the device has reported itself on at its status rate.
        await obs.wait_json(
            state,
            lambda d: d["program"] == "evening-heat" and d["progress"]["elapsed_s"] >= 2,
            within=30,
        )
        async with massager_sdk.connect("sim://heat4", simulator=sim, control=False) as other:
            await on_device(lambda: sim.heat_target_c is not None)
            m = obs.mark()
            await other.stop()
        ended = await obs.wait_json(state, lambda d: d["program"] == "none", after=m)
        assert ended["program_state"] == "idle"
        shown = await obs.wait_json(
            state, lambda d: d["state"] == "OFF" and d["safety"] is not None, after=m
        )
        assert shown["safety"]["emergency_stopped"] is True
        assert shown["safety"]["stop_reason"] == "another host or link stopped the device"
        for _ in range(6):  # the program would have gone on: the device stays off
            await asyncio.sleep(0.5)
            assert not sim.is_on, sim.commanded
