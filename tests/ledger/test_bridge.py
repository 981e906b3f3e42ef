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
