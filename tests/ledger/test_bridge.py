"""The MQTT bridge keeps a device's rest across remove and add: the ledger holds it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from massager_simulator import SimulatedDevice

from massager_sdk.mqtt import DeviceConfig
from massager_sdk.safety import Ledger, SafetyLimits
from tests.mqtt.broker import BrokerProcess
from tests.mqtt.helpers import Observer, Setup, observer, running_bridge


async def refusal_for(obs: Observer, setup: Setup, device_id: str, since: int) -> dict[str, Any]:
    # Messages after ``since`` only: the device must be online again after an add.
    await obs.wait(setup.topics.availability(device_id), lambda p: p == b"online", after=since)
    await obs.wait_json(setup.topics.state(device_id), after=since)
    mark = obs.mark()
    await obs.send(setup.topics.set(device_id), {"intensity": 1})
    error: dict[str, Any] = await obs.wait_json(setup.topics.error(device_id), after=mark)
    return error


async def test_rest_survives_remove_and_add(
    live_broker: BrokerProcess, _private_ledger: Path
) -> None:
    sim = SimulatedDevice("heat4")
    limits = SafetyLimits()
    # A session of this device used its time a minute ago (another process ran it).
    with Ledger(_private_ledger) as ledger:
        ended = time.time() - 60
        row = ledger.start_session(f"{sim.model.model}/{sim.serial}", sim.model.model, ended - 900)
        ledger.update_session(
            row,
            ended,
            on_s=limits.auto_off_s,
            contact_s=0.0,
            over=True,
            off_since=ended,
            dose_min=0.0,
            levels=[3, 3, 3, 3],
            heat_c=None,
            end_reason="the session used its 15 min",
        )
    async with sim, running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        for _ in range(2):  # added, then removed and added again
            added = obs.mark()
            await setup.bridge.add_device(DeviceConfig("sim://heat4", id="sofa"), simulator=sim)
            error = await refusal_for(obs, setup, "sofa", added)
            assert error["limit"] == "rest", error
            await asyncio.sleep(0.3)
            assert sim.commanded == (0, 0, 0, 0)
            await setup.bridge.remove_device("sofa")


async def test_the_configured_limits_survive_remove_and_add_over_mqtt(
    live_broker: BrokerProcess,
) -> None:
    # bridge.toml gives this device a 40 C heat limit; an MQTT remove then add of the
    # same device must bring the entry back with it, not a bare URL.
    entry = DeviceConfig("sim://heat4", id="sofa", limits=SafetyLimits(heat_max_c=40.0))
    async with (
        running_bridge(live_broker, devices=(entry,)) as setup,
        observer(live_broker, setup.watch) as obs,
    ):
        t = setup.topics
        await obs.wait(t.availability("sofa"), lambda p: p == b"online")
        mark = obs.mark()
        await obs.send(t.request("remove"), {"id": "sofa"})
        await obs.wait_json(t.response("remove"), after=mark)
        mark = obs.mark()
        await obs.send(t.request("add"), {"url": "sim://heat4", "id": "sofa"})
        added = await obs.wait_json(t.response("add"), after=mark)
        assert added["status"] == "ok", added
        await obs.wait(t.availability("sofa"), lambda p: p == b"online", after=mark)
        await obs.wait_json(t.state("sofa"), after=mark)
        mark = obs.mark()
        await obs.send(t.set("sofa"), {"heat": 42})
        error = await obs.wait_json(t.error("sofa"), after=mark)
        assert (error["limit"], error["allowed"]) == ("heat_max", 40.0), error
        node = setup.bridge.node("sofa")
        assert node.config.limits == SafetyLimits(heat_max_c=40.0)
