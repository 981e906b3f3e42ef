"""What a Home Assistant user sees, checked on a real broker with simulated devices.

Availability that never says ``online`` for a device the bridge does not hold,
commands that are always answered, the Program select, removal order, devices
without a serial, refusals, intensity shown at once, the entities users expect,
the migration from per-entity discovery configs, and user programs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest
from massager_simulator import FaultConfig, SimulatedDevice

from massager_sdk.mqtt import Bridge, ConfigError, DeviceConfig, load_config
from massager_sdk.mqtt.claims import Claim
from massager_sdk.mqtt.discovery import REFUSAL_KINDS
from massager_sdk.programs import builtin_names
from tests.mqtt.broker import BrokerProcess, free_port
from tests.mqtt.helpers import (
    Observer,
    Setup,
    add,
    observer,
    on_device,
    running_bridge,
    unique_prefix,
)


async def ready(obs: Observer, setup: Setup, device_id: str) -> dict[str, Any]:
    await obs.wait(setup.topics.availability(device_id), lambda p: p == b"online")
    state: dict[str, Any] = await obs.wait_json(setup.topics.state(device_id))
    return state


async def device_config(
    obs: Observer, setup: Setup, device_id: str, *, after: int = 0
) -> dict[str, Any]:
    config: dict[str, Any] = await obs.wait_json(
        setup.topics.device_discovery(device_id), after=after
    )
    return config


def index(obs: Observer, topic: str, payload: bytes, *, after: int = 0) -> int:
    """Where in the log ``payload`` first came on ``topic`` (from ``after`` on)."""
    for i, (t, p, _) in enumerate(obs.messages[after:], start=after):
        if t == topic and p == payload:
            return i
    raise AssertionError(f"{payload!r} never came on {topic}")


# -- 1. availability is true at every moment ---------------------------------------------


async def test_after_a_crash_devices_say_offline_before_the_bridge_says_online(
    live_broker: BrokerProcess,
) -> None:
    """A crashed bridge leaves "online" for its devices; the restarted one corrects it first."""
    prefix = unique_prefix()
    base = f"{prefix}/massager"
    state_topic = f"{base}/bridge/lounge/state"
    unreachable = f"tcp://127.0.0.1:{free_port()}"
    async with observer(live_broker, f"{prefix}/#") as obs:
        # What the dead process left: claims and "online" for a configured device and
        # for one whose id came from its serial, and its last will.
        for device_id in ("desk", "n2_000009"):
            claim = Claim("lounge", state_topic, time.time() - 60)
            await obs.publish(f"{base}/{device_id}/claim", claim.payload(), retain=True)
            await obs.publish(f"{base}/{device_id}/availability", "online", retain=True)
        await obs.publish(state_topic, "offline", retain=True)
        await obs.settle(0.2)
        m = obs.mark()
        async with running_bridge(live_broker, base=prefix, bridge_id="lounge") as setup:
            await add(setup, unreachable, "desk")
            await obs.wait(state_topic, lambda p: p == b"online", after=m)
            online_at = index(obs, state_topic, b"online", after=m)
            for device_id in ("desk", "n2_000009"):
                topic = setup.topics.availability(device_id)
                assert index(obs, topic, b"offline", after=m) < online_at
            # The device cannot be reached: it never says online, and a command to it is
            # answered on its error topic.
            await asyncio.sleep(0.5)
            assert obs.on(setup.topics.availability("desk"))[-1] == b"offline"
            m2 = obs.mark()
            await obs.send(setup.topics.set("desk"), {"intensity": 2})
            error = await obs.wait_json(setup.topics.error("desk"), after=m2)
            assert error["event_type"] == "unavailable"
            assert "not available" in error["error"]


async def test_a_device_says_online_only_once_it_is_taken(live_broker: BrokerProcess) -> None:
    sim = SimulatedDevice("neck2")
    async with (
        sim,
        running_bridge(live_broker) as setup,
        observer(live_broker, setup.watch) as obs,
    ):
        m = obs.mark()
        await add(setup, "sim://neck2", "desk", simulator=sim)
        await ready(obs, setup, "desk")
        online_at = index(obs, setup.topics.availability("desk"), b"online", after=m)
        claim_at = min(
            i for i, (t, p, _) in enumerate(obs.messages) if t == setup.topics.claim("desk") and p
        )
        assert claim_at < online_at
        assert setup.bridge.node("desk").phase == "active"


async def test_a_command_while_the_link_is_down_is_answered_at_once(
    live_broker: BrokerProcess,
) -> None:
    sim = SimulatedDevice("neck2")
    async with (
        sim,
        running_bridge(live_broker) as setup,
        observer(live_broker, setup.watch) as obs,
    ):
        await add(setup, "sim://neck2", "desk", simulator=sim, reconnect_grace_s=10)
        await ready(obs, setup, "desk")
        m = obs.mark()
        sim.faults = FaultConfig(drop_after_s=0.0)
        sim.drop_links()
        await obs.wait(setup.topics.availability("desk"), lambda p: p == b"offline", after=m)
        await obs.send(setup.topics.set("desk"), {"intensity": 1})
        error = await obs.wait_json(setup.topics.error("desk"), after=m, within=3)
        assert error["event_type"] == "unavailable"
        assert "link is down" in error["error"]
        sim.faults = FaultConfig()


# -- 2. the Program select ---------------------------------------------------------------


async def test_the_program_select_never_says_none_and_its_option_stops_a_program(
    live_broker: BrokerProcess,
) -> None:
    async with running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        await add(setup, "sim://neck2", "desk")
        await ready(obs, setup, "desk")
        config = await device_config(obs, setup, "desk")
        select = config["components"]["program"]
        assert not [o for o in select["options"] if o.strip().lower() == "none"]
        m = obs.mark()
        await obs.publish(select["command_topic"], "office-break")
        await obs.wait_json(setup.topics.state("desk"), lambda d: d["program"] == "office-break")
        await obs.publish(select["command_topic"], select["options"][0])
        done = await obs.wait_json(
            setup.topics.state("desk"), lambda d: d["program_state"] == "idle", after=m
        )
        assert done["program"] == "none"  # the JSON API keeps its word for it
        assert not [e for e in obs.on(setup.topics.error("desk")) if e]


# -- 3. removal ----------------------------------------------------------------------------


async def test_removal_clears_the_discovery_config_before_state_and_availability(
    live_broker: BrokerProcess,
) -> None:
    async with running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        await add(setup, "sim://neck2", "desk")
        await ready(obs, setup, "desk")
        await device_config(obs, setup, "desk")
        m = obs.mark()
        await setup.bridge.remove_device("desk")
        await obs.wait(setup.topics.state("desk"), lambda p: p == b"", after=m)
        t = setup.topics
        config_at = index(obs, t.device_discovery("desk"), b"", after=m)
        assert config_at < index(obs, t.state("desk"), b"", after=m)
        assert config_at < index(obs, t.availability("desk"), b"", after=m)


# -- 4 and 5. devices without a serial -------------------------------------------------------


async def test_devices_without_serial_get_an_id_from_their_url_and_honest_details(
    live_broker: BrokerProcess,
) -> None:
    async with running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        await setup.bridge.add_device(DeviceConfig("sim://tuya-neck"))
        await setup.bridge.add_device(DeviceConfig("sim://yh-ems"))
        # A Tuya device is named by its uuid (its serial); a yh device by its URL.
        await ready(obs, setup, "tuya0sim0neck001")
        await ready(obs, setup, "sim_yh_ems")
        tuya = await device_config(obs, setup, "tuya0sim0neck001")
        assert tuya["device"]["manufacturer"] == "Tuya"
        assert tuya["device"]["serial_number"] == "tuya0sim0neck001"
        assert "sw_version" not in tuya["device"]
        # The Tuya device reports neither battery nor temperature: no such entities.
        assert not {"battery", "temperature"} & set(tuya["components"])
        assert "heat" in tuya["components"]
        yh = await device_config(obs, setup, "sim_yh_ems")
        assert yh["device"]["manufacturer"] != "yh"
        assert "temperature" not in yh["components"]
        state = obs.json(setup.topics.state("sim_yh_ems"))
        assert ("battery" in yh["components"]) == (state["battery"] is not None)


async def test_a_device_that_cannot_be_served_backs_off_and_says_why(
    live_broker: BrokerProcess,
) -> None:
    unreachable = f"tcp://127.0.0.1:{free_port()}"
    async with running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        await setup.bridge.add_device(DeviceConfig(unreachable))
        m = 0
        errors: list[dict[str, Any]] = []
        while len(errors) < 3:
            errors.append(
                await obs.wait_json(
                    setup.topics.bridge_error, lambda e: e.get("device") == unreachable, after=m
                )
            )
            m = obs.mark()
        assert [e["retry_in_s"] for e in errors] == [0.5, 1.0, 2.0]


async def test_a_second_device_with_the_same_derived_id_stands_by_and_says_why(
    live_broker: BrokerProcess,
) -> None:
    async with running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        # Two simulated Tuya devices with one uuid: the id derived from it is taken.
        await setup.bridge.add_device(DeviceConfig("sim://tuya-neck"))
        await ready(obs, setup, "tuya0sim0neck001")
        m = obs.mark()
        second = await setup.bridge.add_device(DeviceConfig("sim://tuya-neck"))
        error = await obs.wait_json(setup.topics.bridge_error, after=m)
        assert error["id"] == "tuya0sim0neck001" and "already used" in error["error"]
        # It waits for the id to be free instead of reconnecting over and over.
        for _ in range(100):
            if second.phase == "standby":
                break
            await asyncio.sleep(0.05)
        assert second.phase == "standby"
        await asyncio.sleep(1.5)
        assert second.phase == "standby"
        assert len(obs.on(setup.topics.bridge_error)) == 1


# -- 6. refusals ---------------------------------------------------------------------------


async def test_refusals_reach_the_event_and_the_last_refusal_sensor(
    live_broker: BrokerProcess,
) -> None:
    async with running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        await add(setup, "sim://neck2", "desk")
        await ready(obs, setup, "desk")
        config = await device_config(obs, setup, "desk")
        event = config["components"]["refusal"]
        t = setup.topics
        cases = [
            ({"program": "office-break"}, None),
            ({"intensity": 3}, "program_running"),
            ({"state": "OFF"}, None),
            ({"intensity": 3}, "emergency_stop"),
            ({"intensity": 99}, "invalid_command"),
        ]
        for command, kind in cases:
            m = obs.mark()
            await obs.send(t.set("desk"), command)
            if kind is None:
                await obs.wait_json(t.state("desk"), after=m)
                continue
            error = await obs.wait_json(event["state_topic"], after=m)
            assert error["event_type"] == kind
            assert kind in event["event_types"] and set(event["event_types"]) == set(REFUSAL_KINDS)
            state = await obs.wait_json(
                t.state("desk"), lambda d: d["last_refusal"] is not None, after=m
            )
            assert state["last_refusal"] == " ".join(error["error"].split())[:250]


# -- 7. intensity shown at once ------------------------------------------------------------


async def test_the_state_shows_the_requested_intensity_at_once_not_the_ramp(
    live_broker: BrokerProcess,
) -> None:
    sim = SimulatedDevice("heat4")
    async with (
        sim,
        running_bridge(live_broker) as setup,
        observer(live_broker, setup.watch) as obs,
    ):
        await add(setup, "sim://heat4", "sofa", simulator=sim)
        await ready(obs, setup, "sofa")
        m = obs.mark()
        await obs.publish(setup.topics.set_attr("sofa", "intensity"), "6")
        first = await obs.wait_json(
            setup.topics.state("sofa"), lambda d: d["intensity"] != 0, after=m
        )
        assert first["intensity"] == 6
        await on_device(lambda: sim.commanded == (6, 6, 6, 6))
        await obs.settle(0.3)
        shown = [json.loads(p)["intensity"] for p in obs.on(setup.topics.state("sofa"))[1:] if p]
        assert not [level for level in shown if 0 < level < 6], shown


# -- what users expect ------------------------------------------------------------------------


async def test_buttons_and_zone_numbers_drive_the_device(live_broker: BrokerProcess) -> None:
    sim = SimulatedDevice("heat4")
    async with (
        sim,
        running_bridge(live_broker) as setup,
        observer(live_broker, setup.watch) as obs,
    ):
        await add(setup, "sim://heat4", "sofa", simulator=sim)
        await ready(obs, setup, "sofa")
        parts = (await device_config(obs, setup, "sofa"))["components"]
        state = setup.topics.state("sofa")
        zone = parts["zone_left_neck"]
        assert zone["enabled_by_default"] is False
        await obs.publish(zone["command_topic"], "3")
        await obs.wait_json(state, lambda d: d["zones"]["left_neck"] == 3)
        await on_device(lambda: sim.commanded == (3, 0, 0, 0))
        await obs.publish(parts["program"]["command_topic"], "classic")
        await obs.wait_json(state, lambda d: d["program_state"] == "running")
        await obs.publish(parts["pause"]["command_topic"], "PRESS")
        await obs.wait_json(state, lambda d: d["program_state"] == "paused")
        await obs.publish(parts["resume"]["command_topic"], "PRESS")
        running = await obs.wait_json(state, lambda d: d["program_state"] == "running")
        stage = running["progress"]["stage"]
        await obs.publish(parts["skip"]["command_topic"], "PRESS")
        await obs.wait_json(
            state, lambda d: d["progress"] is not None and d["progress"]["stage"] != stage
        )
        full = obs.json(state)
        assert full["session_remaining_s"] > 0
        assert full["thermal_dose_pct"] is not None


async def test_per_entity_configs_of_an_older_bridge_are_migrated_then_cleared(
    live_broker: BrokerProcess,
) -> None:
    prefix = unique_prefix()
    async with observer(live_broker, f"{prefix}/#") as obs:
        ha = f"{prefix}/ha"
        old = {
            f"{ha}/switch/massager_desk/power/config": {"name": "Power"},
            f"{ha}/sensor/massager_desk/status/config": {"name": "Status"},
        }
        for topic, payload in old.items():
            await obs.publish(topic, json.dumps(payload), retain=True)
        await obs.settle(0.2)
        m = obs.mark()
        async with running_bridge(live_broker, base=prefix) as setup:
            await add(setup, "sim://neck2", "desk")
            await ready(obs, setup, "desk")
            device_topic = setup.topics.device_discovery("desk")
            await obs.wait(device_topic, after=m)
            await obs.settle(0.3)
            config_at = index(obs, device_topic, obs.on(device_topic)[-1], after=m)
            for topic in old:
                migrate = index(obs, topic, b'{"migrate_discovery": true}', after=m)
                cleared = index(obs, topic, b"", after=m)
                assert migrate < cleared < config_at
            # Nothing of the old layout is retained any more.
            async with observer(live_broker, f"{ha}/+/massager_desk/+/config") as late:
                await late.settle(0.3)
                assert not [p for p in late.last.values() if p]


async def test_user_programs_are_offered_and_run(
    live_broker: BrokerProcess, tmp_path: Path
) -> None:
    text = (
        Path(__file__).parents[2] / "massager_sdk/programs/builtin/office-break.toml"
    ).read_text()
    (tmp_path / "mine.toml").write_text(text.replace('name = "office-break"', 'name = "my-break"'))
    async with (
        running_bridge(live_broker, programs_dir=str(tmp_path)) as setup,
        observer(live_broker, setup.watch) as obs,
    ):
        await add(setup, "sim://neck2", "desk")
        await ready(obs, setup, "desk")
        select = (await device_config(obs, setup, "desk"))["components"]["program"]
        assert select["options"][1:] == [*builtin_names(), "my-break"]
        await obs.publish(select["command_topic"], "my-break")
        await obs.wait_json(setup.topics.state("desk"), lambda d: d["program"] == "my-break")


def test_user_programs_are_validated_when_the_bridge_starts(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('name = "bad"\n[[stage]]\nname = "x"\n')
    config = dataclasses.replace(
        load_config(broker="mqtt://127.0.0.1:1"), programs_dir=str(tmp_path)
    )
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        Bridge(config)
    (tmp_path / "bad.toml").write_text(
        (Path(__file__).parents[2] / "massager_sdk/programs/builtin/classic.toml").read_text()
    )
    with pytest.raises(ConfigError, match="built-in program"):
        Bridge(config)


async def test_a_standby_bridge_never_says_offline_for_a_device_another_bridge_holds(
    live_broker: BrokerProcess,
) -> None:
    sim = SimulatedDevice("neck2")
    prefix = unique_prefix()
    async with (
        sim,
        observer(live_broker, f"{prefix}/#") as obs,
        running_bridge(live_broker, base=prefix, bridge_id="alpha") as a,
    ):
        await add(a, "sim://neck2", "desk", simulator=sim)
        await ready(obs, a, "desk")
        m = obs.mark()
        # desk is in beta's configuration: known before beta connects.
        devices = (DeviceConfig("sim://neck2", id="desk"),)
        async with running_bridge(live_broker, base=prefix, bridge_id="beta", devices=devices) as b:
            await obs.wait(b.topics.bridge_state, lambda p: p == b"online", after=m)
            for _ in range(100):
                if b.bridge.node("desk").phase == "standby":
                    break
                await asyncio.sleep(0.05)
            assert b.bridge.node("desk").phase == "standby"
            await obs.settle(0.3)
            # Starting, beta said offline only for what it may hold: not for desk.
            assert [p for t, p, _ in obs.messages[m:] if t == a.topics.availability("desk")] == []
