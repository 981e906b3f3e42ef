"""A bridge whose devices are added without options drives them under the default
profile (``$MASSAGER_HEALTH_PROFILE``), against a real broker, with the simulator as the device."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from massager_simulator import SimulatedDevice

from massager_sdk.safety.profile import HEALTH_PROFILE_ENV
from tests.mqtt.broker import BrokerProcess
from tests.mqtt.helpers import add, observer, running_bridge


async def test_a_bridge_device_without_options_applies_the_default_profile(
    live_broker: BrokerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text('acknowledged = true\ncontraindications = ["thrombosis"]\n')
    monkeypatch.setenv(HEALTH_PROFILE_ENV, str(profile))
    sim = SimulatedDevice("heat4")
    async with sim, running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        await add(setup, "sim://heat4", "sofa", simulator=sim)
        await obs.wait(setup.topics.availability("sofa"), lambda p: p == b"online")
        m = obs.mark()
        await obs.send(setup.topics.set("sofa"), {"intensity": 2, "heat": 40})
        error = await obs.wait_json(setup.topics.error("sofa"), after=m)
        assert error["limit"] == "screening_sessions", error
        assert "thrombosis" in error["error"]
        await asyncio.sleep(0.5)  # anything sent would have reached the device by now
        assert sim.commanded == (0, 0, 0, 0) and sim.heat_target_c is None
