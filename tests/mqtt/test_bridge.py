"""The bridge against a real broker process, with simulated devices.

Every test has its own base topic and discovery prefix on the session's broker;
the simulator is the device, and what the tests check on the broker they also
check on the simulated hardware.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

from massager_simulator import FaultConfig, Fleet, SimulatedDevice

from massager_sdk.mqtt import Bridge, DeviceConfig, load_config
from massager_sdk.safety import SafetyLimits
from tests.mqtt.broker import BrokerProcess
from tests.mqtt.helpers import (
    Observer,
    Setup,
    add,
    observer,
    on_device,
    running_bridge,
    unique_prefix,
)

ENTITIES = (
    "power",
    "intensity",
    "program",
    "heat",
    "battery",
    "temperature",
    "remaining",
    "status",
    "pause",
    "refusal",
    "last_refusal",
)


def config_topic(setup: Setup, device_id: str) -> str:
    """The device's discovery config (device-based discovery)."""
    return setup.topics.device_discovery(device_id)


def merged(payload: dict[str, Any], entity: str) -> dict[str, Any]:
    """One component of a device config with the shared options, as Home Assistant sees it."""
    return {
        **payload["components"][entity],
        "availability": payload["availability"],
        "device": payload["device"],
    }


async def component(
    obs: Observer, setup: Setup, device_id: str, entity: str, *, after: int = 0
) -> dict[str, Any]:
    """Wait for the device config that has ``entity``; that component of it."""
    payload = await obs.wait_json(
        config_topic(setup, device_id), lambda p: entity in p["components"], after=after
    )
    return merged(payload, entity)


async def ready(obs: Observer, setup: Setup, device_id: str) -> dict[str, Any]:
    """Wait until the device is online and its first state is published."""
    await obs.wait(setup.topics.availability(device_id), lambda p: p == b"online")
    state: dict[str, Any] = await obs.wait_json(setup.topics.state(device_id))
    return state


async def state_where(
    obs: Observer, setup: Setup, device_id: str, check: Any, *, after: int = 0, within: float = 10
) -> dict[str, Any]:
    result: dict[str, Any] = await obs.wait_json(
        setup.topics.state(device_id), check, after=after, within=within
    )
    return result


def levels(doc: dict[str, Any]) -> list[int]:
    return list(doc["zones"].values())


async def error_after(obs: Observer, setup: Setup, device_id: str, mark: int) -> dict[str, Any]:
    result: dict[str, Any] = await obs.wait_json(setup.topics.error(device_id), after=mark)
    return result


# -- appearing ---------------------------------------------------------------------


async def test_a_device_appears_with_discovery_availability_and_state(
    live_broker: BrokerProcess,
) -> None:
    prefix = unique_prefix()
    async with observer(live_broker, f"{prefix}/#") as obs:
        async with running_bridge(live_broker, base=prefix) as setup:
            await _appears(obs, setup, live_broker)
        # A clean stop says offline for the device and the bridge.
        await obs.wait(setup.topics.bridge_state, lambda p: p == b"offline")
        assert obs.last[setup.topics.availability("sofa")] == b"offline"


async def _appears(obs: Observer, setup: Setup, live_broker: BrokerProcess) -> None:
    await add(setup, "sim://heat4", "sofa")
    state = await ready(obs, setup, "sofa")
    assert (state["state"], state["intensity"], state["program"]) == ("OFF", 0, "none")
    assert state["zones"] == {
        "left_neck": 0,
        "right_neck": 0,
        "left_shoulder": 0,
        "right_shoulder": 0,
    }
    assert state["link"] == "online"
    assert state["safety"]["emergency_stopped"] is False
    assert obs.last[setup.topics.bridge_state] == b"online"
    for entity in ENTITIES:
        payload = await component(obs, setup, "sofa", entity)
        assert payload["unique_id"] == f"massager_sofa_{entity}"
        if entity == "refusal":
            assert payload["state_topic"] == setup.topics.error("sofa")
        elif payload["platform"] != "button":
            assert payload["state_topic"] == setup.topics.state("sofa")
        assert [a["topic"] for a in payload["availability"]] == [
            setup.topics.availability("sofa"),
            setup.topics.bridge_state,
        ]
    # Everything a newcomer (Home Assistant starting later) needs is retained.
    retained = {t for t, _, r in obs.messages if r}
    async with observer(live_broker, setup.watch) as late:
        await late.wait(setup.topics.state("sofa"))
        await late.settle()
        got = {t for t, _, r in late.messages if r}
    expected = {config_topic(setup, "sofa")} | {
        setup.topics.state("sofa"),
        setup.topics.availability("sofa"),
        setup.topics.bridge_state,
        setup.topics.claim("sofa"),
    }
    assert expected <= got
    assert not retained & {setup.topics.error("sofa")}


# -- commands ------------------------------------------------------------------------


async def test_every_command_reaches_the_device(live_broker: BrokerProcess) -> None:
    sim = SimulatedDevice("heat4")
    async with sim, running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        await add(setup, "sim://heat4", "sofa", simulator=sim)
        await ready(obs, setup, "sofa")
        t = setup.topics

        # JSON: intensity and heat together.
        m = obs.mark()
        await obs.send(t.set("sofa"), {"intensity": 2, "heat": 40})
        s = await state_where(obs, setup, "sofa", lambda d: levels(d) == [2, 2, 2, 2], after=m)
        s = await state_where(obs, setup, "sofa", lambda d: d["heat"] == 40, after=m)
        assert (s["state"], s["status"]) == ("ON", "massaging and heating")
        await on_device(lambda: sim.commanded == (2, 2, 2, 2))
        await on_device(lambda: sim.heat_target_c == 40.0)

        # JSON: per-zone levels override the rest.
        m = obs.mark()
        await obs.send(t.set("sofa"), {"zones": {"left_neck": 1, "right_shoulder": 0}})
        s = await state_where(obs, setup, "sofa", lambda d: levels(d) == [1, 2, 2, 0], after=m)
        assert s["zones"] == {
            "left_neck": 1,
            "right_neck": 2,
            "left_shoulder": 2,
            "right_shoulder": 0,
        }
        await on_device(lambda: sim.commanded == (1, 2, 2, 0))

        # Plain topics.
        m = obs.mark()
        await obs.publish(t.set_attr("sofa", "zones/right_shoulder"), "1")
        await state_where(obs, setup, "sofa", lambda d: d["zones"]["right_shoulder"] == 1, after=m)
        m = obs.mark()
        await obs.publish(t.set_attr("sofa", "heat"), "off")
        await state_where(obs, setup, "sofa", lambda d: d["heat"] is None, after=m)
        await on_device(lambda: sim.heat_target_c is None)
        m = obs.mark()
        await obs.publish(t.set_attr("sofa", "intensity"), "3.0")  # as Home Assistant sends it
        await state_where(obs, setup, "sofa", lambda d: levels(d) == [3] * 4, after=m)
        await on_device(lambda: sim.commanded == (3, 3, 3, 3))

        # state OFF: an emergency stop, through the safety policy.
        m = obs.mark()
        await obs.publish(t.set_attr("sofa", "state"), "OFF")
        s = await state_where(obs, setup, "sofa", lambda d: d["state"] == "OFF", after=m)
        assert s["safety"]["emergency_stopped"] is True
        assert sim.commanded == (0, 0, 0, 0)
        # Outputs stay blocked until an explicit ON...
        m = obs.mark()
        await obs.send(t.set("sofa"), {"intensity": 2})
        error = await error_after(obs, setup, "sofa", m)
        assert "refused by the safety policy" in error["error"]
        assert error["limit"] == "emergency_stop"
        assert sim.commanded == (0, 0, 0, 0)
        # ...which lifts the stop and resumes at the last level.
        m = obs.mark()
        await obs.publish(t.set_attr("sofa", "state"), "ON")
        s = await state_where(obs, setup, "sofa", lambda d: levels(d) == [3] * 4, after=m)
        assert s["state"] == "ON"
        assert s["safety"]["emergency_stopped"] is False
        await on_device(lambda: sim.commanded == (3, 3, 3, 3))

        # Programs: start, pause, resume, skip, stop.
        m = obs.mark()
        await obs.publish(t.set_attr("sofa", "program"), "office-break")
        s = await state_where(
            obs, setup, "sofa", lambda d: d["program_state"] == "running", after=m
        )
        assert s["program"] == "office-break"
        assert s["progress"]["duration_s"] == 300
        first_stage = s["progress"]["stage"]
        m = obs.mark()
        await obs.send(t.set("sofa"), {"pause": True})
        s = await state_where(obs, setup, "sofa", lambda d: d["program_state"] == "paused", after=m)
        assert s["status"].startswith("program office-break paused")
        await asyncio.sleep(0.2)
        assert sim.commanded == (0, 0, 0, 0)  # a paused program stops the device
        m = obs.mark()
        await obs.publish(t.set_attr("sofa", "resume"), "")
        await state_where(obs, setup, "sofa", lambda d: d["program_state"] == "running", after=m)
        m = obs.mark()
        await obs.publish(t.set_attr("sofa", "skip"), "")
        s = await state_where(
            obs,
            setup,
            "sofa",
            lambda d: d["progress"] and d["progress"]["elapsed_s"] >= 60,
            after=m,
        )
        assert s["program"] == "office-break"
        assert s["progress"]["stage"] != first_stage or s["progress"]["elapsed_s"] >= 60
        # Manual outputs are refused while the program runs.
        m = obs.mark()
        await obs.send(t.set("sofa"), {"intensity": 1})
        error = await error_after(obs, setup, "sofa", m)
        assert "a program is running" in error["error"]
        m = obs.mark()
        await obs.send(t.set("sofa"), {"program": "none"})
        s = await state_where(obs, setup, "sofa", lambda d: d["program"] == "none", after=m)
        assert s["state"] == "OFF"
        await asyncio.sleep(0.2)
        assert sim.commanded == (0, 0, 0, 0)


async def test_state_off_stops_a_running_program(live_broker: BrokerProcess) -> None:
    sim = SimulatedDevice("neck2")
    async with sim, running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        await add(setup, "sim://neck2", "desk", simulator=sim)
        await ready(obs, setup, "desk")
        m = obs.mark()
        await obs.send(setup.topics.set("desk"), {"program": "classic"})
        await state_where(obs, setup, "desk", lambda d: d["program"] == "classic", after=m)
        m = obs.mark()
        await obs.send(setup.topics.set("desk"), {"state": "OFF", "intensity": 4})
        s = await state_where(obs, setup, "desk", lambda d: d["state"] == "OFF", after=m)
        assert (s["program"], s["program_state"]) == ("none", "idle")
        note = await error_after(obs, setup, "desk", m)
        assert note["ignored"] == ["intensity"]
        assert sim.commanded == (0, 0)


async def test_many_devices_get_ids_from_their_serials(live_broker: BrokerProcess) -> None:
    async with (
        Fleet(4, "neck2") as fleet,
        running_bridge(live_broker) as setup,
        observer(live_broker, setup.watch) as obs,
    ):
        for sim in fleet:
            await setup.bridge.add_device(DeviceConfig("sim://neck2"), simulator=sim)
        ids = [f"n2_00000{i}" for i in range(1, 5)]
        for device_id in ids:
            await ready(obs, setup, device_id)
        assert sorted(n.device_id or "" for n in setup.bridge.nodes) == ids
        # Each command reaches its own device only.
        m = obs.mark()
        await obs.send(setup.topics.set("n2_000003"), {"intensity": 2})
        await state_where(obs, setup, "n2_000003", lambda d: levels(d) == [2, 2], after=m)
        expected = [(0, 0), (0, 0), (2, 2), (0, 0)]
        await on_device(lambda: [sim.commanded for sim in fleet] == expected)
        power = merged(obs.json(config_topic(setup, "n2_000003")), "power")
        assert power["device"]["serial_number"] == "N2-000003"


# -- bad payloads ----------------------------------------------------------------------


BAD = [
    ("set", b"not json", "not JSON"),
    ("set", b"[1, 2]", "is a JSON object"),
    ("set", b'{"colour": "red"}', "unknown field 'colour'"),
    ("set", b'{"intensity": "high"}', "'high' is not a number"),
    ("set", b'{"intensity": 99}', "out of range"),
    ("set", b'{"intensity": 2, "heat": 41}', "heat presets"),  # nothing half-applied
    ("set", b'{"zones": {"tail": 1}}', "no zone 'tail'"),
    ("set", b'{"program": "yoga"}', "no program 'yoga'"),
    ("set", b'{"pause": true}', "no program is running"),
    ("set", b'{"intensity": 1, "x": "' + b"y" * 5000 + b'"}', "too large"),
    ("set", b"\xff\xfe\x00", "not UTF-8"),
    ("set/intensity", b"lots", "'lots' is not a number"),
    ("set/state", b"maybe", "'maybe' is not a state"),
    ("set/colour", b"red", "no command topic set/colour"),
]


async def test_bad_payloads_are_refused_and_change_nothing(live_broker: BrokerProcess) -> None:
    sim = SimulatedDevice("heat4")
    async with sim, running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        await add(setup, "sim://heat4", "sofa", simulator=sim)
        await ready(obs, setup, "sofa")
        t = setup.topics
        m = obs.mark()
        await obs.send(t.set("sofa"), {"intensity": 1})
        await state_where(obs, setup, "sofa", lambda d: d["intensity"] == 1, after=m)
        before = obs.json(t.state("sofa"))
        for suffix, payload, says in BAD:
            m = obs.mark()
            topic = f"{t.state('sofa')}/{suffix}"
            await obs.publish(topic, payload)
            error = await error_after(obs, setup, "sofa", m)
            assert says in error["error"], (payload[:40], error)
            assert error["topic"] == topic
            if len(payload) < 200:
                assert error["payload"] == payload.decode("utf-8", "replace")
        await asyncio.sleep(0.3)
        await on_device(lambda: sim.commanded == (1, 1, 1, 1))
        await on_device(lambda: sim.heat_target_c is None)
        now = obs.json(t.state("sofa"))
        for key in ("state", "intensity", "zones", "heat", "program"):
            assert now[key] == before[key]
        # The bridge still serves.
        m = obs.mark()
        await obs.send(t.set("sofa"), {"intensity": 0})
        await state_where(obs, setup, "sofa", lambda d: d["intensity"] == 0, after=m)


async def test_a_retained_command_is_never_run(live_broker: BrokerProcess, tmp_path: Path) -> None:
    """It would run again on every reconnection of the bridge.

    On a broker of its own: amqtt's (0.12) sometimes delivers a retained message
    without the retain flag once other clients have come and gone.
    """
    fresh = BrokerProcess(tmp_path, live_broker.kind)
    fresh.start()
    try:
        await _retained_command(fresh)
    finally:
        fresh.stop()


async def _retained_command(broker: BrokerProcess) -> None:
    sim = SimulatedDevice("neck2")
    async with sim, running_bridge(broker) as setup, observer(broker, setup.watch) as obs:
        await obs.publish(setup.topics.set("desk"), b'{"intensity": 5}', retain=True)
        await obs.wait(setup.topics.set("desk"))  # the broker has taken it in
        try:
            await add(setup, "sim://neck2", "desk", simulator=sim)
            await ready(obs, setup, "desk")
            error = await obs.wait_json(setup.topics.error("desk"))
            assert "retained commands are ignored" in error["error"]
            await asyncio.sleep(0.3)
            assert sim.commanded == (0, 0)
            assert obs.json(setup.topics.state("desk"))["intensity"] == 0
        finally:
            await obs.publish(setup.topics.set("desk"), b"", retain=True)


async def test_a_safety_refusal_leaves_every_output_as_it_was(live_broker: BrokerProcess) -> None:
    sim = SimulatedDevice("heat4")
    async with sim, running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        limits = SafetyLimits(heat_max_c=39.0)
        await add(setup, "sim://heat4", "sofa", simulator=sim, limits=limits)
        await ready(obs, setup, "sofa")
        m = obs.mark()
        await obs.send(setup.topics.set("sofa"), {"intensity": 2, "heat": 40})
        error = await error_after(obs, setup, "sofa", m)
        assert "refused by the safety policy" in error["error"]
        assert error["limit"] == "heat_max"
        await asyncio.sleep(0.3)
        assert sim.commanded == (0, 0, 0, 0)
        assert sim.heat_target_c is None
        assert obs.json(setup.topics.state("sofa"))["intensity"] == 0


async def test_each_device_in_the_file_gets_its_own_safety_settings(
    live_broker: BrokerProcess, tmp_path: Path
) -> None:
    """A device entry's profile and limits hold it; its neighbour keeps the defaults.

    Home Assistant is offered only what the policy accepts (heat presets, the
    intensity slider's top), and a command beyond that is refused on the error topic.
    """
    prefix = unique_prefix()
    anna = tmp_path / "anna.toml"
    anna.write_text('acknowledged = true\ncontraindications = ["severe overwork"]\n')
    path = tmp_path / "bridge.toml"
    path.write_text(
        f"""
[broker]
url = "{live_broker.url}"

[bridge]
base_topic = "{prefix}/massager"
discovery_prefix = "{prefix}/ha"

[[devices]]
id = "kids"
url = "sim://heat4"
profile = "{anna}"
limits = {{ heat_max_c = 40.0 }}

[[devices]]
id = "adult"
url = "sim://heat4"
"""
    )
    config = load_config(path)
    sims = {"kids": SimulatedDevice("heat4"), "adult": SimulatedDevice("heat4")}
    # The devices of the file, each on a simulator the test can look into.
    bridge = Bridge(dataclasses.replace(config, devices=()))
    setup = Setup(bridge, config.topics, f"{prefix}/ha", prefix)
    async with sims["kids"], sims["adult"], bridge, observer(live_broker, setup.watch) as obs:
        for entry in config.devices:
            assert entry.id is not None
            await bridge.add_device(entry, simulator=sims[entry.id])
        for device_id in sims:
            await ready(obs, setup, device_id)
        t = setup.topics

        offered = {
            device_id: (
                (await component(obs, setup, device_id, "heat"))["options"],
                (await component(obs, setup, device_id, "intensity"))["max"],
            )
            for device_id in sims
        }
        assert offered["kids"] == (["off", "38", "40"], 5)  # heat_max_c 40; capped to half
        assert offered["adult"] == (["off", "38", "40", "42"], 10)

        m = obs.mark()
        await obs.send(t.set("kids"), {"heat": 42})
        error = await error_after(obs, setup, "kids", m)
        assert (error["limit"], error["allowed"]) == ("heat_max", 40.0)
        m = obs.mark()
        await obs.send(t.set("kids"), {"intensity": 6})
        error = await error_after(obs, setup, "kids", m)
        assert (error["limit"], error["allowed"]) == ("screening_intensity", 5)
        await asyncio.sleep(0.3)
        assert sims["kids"].commanded == (0, 0, 0, 0) and sims["kids"].heat_target_c is None

        await obs.send(t.set("adult"), {"heat": 42, "intensity": 6})
        await state_where(obs, setup, "adult", lambda d: d["heat"] == 42)
        await state_where(obs, setup, "adult", lambda d: levels(d) == [6] * 4)
        await on_device(lambda: sims["adult"].heat_target_c == 42.0)


# -- Home Assistant and requests ---------------------------------------------------------


async def test_home_assistant_coming_online_gets_discovery_again(
    live_broker: BrokerProcess,
) -> None:
    async with running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        await add(setup, "sim://neck2", "desk")
        await ready(obs, setup, "desk")
        await obs.wait(config_topic(setup, "desk"))
        m = obs.mark()
        await obs.publish(setup.topics.ha_status, "offline")
        await obs.settle(0.3)
        assert not [t for t, _, _ in obs.messages[m:] if t.endswith("/config")]
        await obs.publish(setup.topics.ha_status, "online")
        await obs.wait(config_topic(setup, "desk"), after=m)
        await obs.wait(setup.topics.state("desk"), after=m)


async def test_removing_a_device_clears_what_was_published(live_broker: BrokerProcess) -> None:
    async with running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        await add(setup, "sim://heat4", "sofa")
        await add(setup, "sim://neck2", "desk")
        await ready(obs, setup, "sofa")
        await ready(obs, setup, "desk")
        m = obs.mark()
        await obs.send(setup.topics.request("remove"), {"id": "sofa", "transaction": 7})
        response = await obs.wait_json(setup.topics.response("remove"), after=m)
        assert response == {
            "status": "ok",
            "data": {"id": "sofa"},
            "bridge": setup.bridge.owner,
            "transaction": 7,
        }
        await obs.settle()
        async with observer(live_broker, setup.watch) as late:
            await late.wait(setup.topics.state("desk"))
            await late.settle()
            left = {t for t in late.last if "sofa" in t}
        assert left == set(), left
        m = obs.mark()
        await obs.publish(setup.topics.request("devices"), "")
        listing = await obs.wait_json(setup.topics.response("devices"), after=m)
        assert [d["id"] for d in listing["data"]] == ["desk"]


async def test_bridge_requests(live_broker: BrokerProcess) -> None:
    async with running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        t = setup.topics
        m = obs.mark()
        await obs.send(t.request("add"), {"url": "sim://neck2", "id": "desk", "name": "Desk"})
        added = await obs.wait_json(t.response("add"), after=m)
        assert added["status"] == "ok"
        assert added["data"]["id"] == "desk"
        state = await ready(obs, setup, "desk")
        assert state["zones"] == {"left": 0, "right": 0}
        power = await component(obs, setup, "desk", "power")
        assert power["device"]["name"] == "Desk"
        m = obs.mark()
        await obs.send(t.request("devices"), {"transaction": "abc"})
        listing = await obs.wait_json(t.response("devices"), after=m)
        assert listing["transaction"] == "abc"
        (desk,) = listing["data"]
        assert desk["model"] == "NMP Neck 2"
        assert desk["serial"] == "N2-000001"
        assert (desk["online"], desk["phase"], desk["url"]) == (True, "active", "sim://neck2")
        for name, payload, says in [
            ("add", b'{"id": "x"}', 'add needs "url"'),
            ("add", b'{"url": "warp://x"}', "accepted forms"),
            ("add", b'{"url": "sim://", "id": "desk"}', "already on this bridge"),
            ("add", b'{"url": "sim://", "id": "Bad Id"}', "lower-case"),
            ("remove", b'{"id": "nope"}', "no device 'nope'"),
            ("remove", b"{}", 'remove needs "id"'),
            ("devices", b'{"verbose": true}', "unknown field(s) verbose"),
            ("devices", b"[]", "JSON object"),
            ("reboot", b"", "unknown request 'reboot'; accepted: devices, add, remove"),
        ]:
            m = obs.mark()
            await obs.publish(t.request(name), payload)
            response = await obs.wait_json(t.response(name), after=m)
            assert response["status"] == "error"
            assert says in response["error"], response
            error = await obs.wait_json(t.bridge_error, after=m)
            assert error["request"] == name
            assert says in error["error"]


# -- losing things --------------------------------------------------------------------------


async def test_a_program_survives_a_broker_restart_and_the_state_catches_up(
    live_broker: BrokerProcess,
) -> None:
    sim = SimulatedDevice("neck2")
    async with sim, running_bridge(live_broker, telemetry_interval=0.5) as setup:
        async with observer(live_broker, setup.watch) as obs:
            await add(setup, "sim://neck2", "desk", simulator=sim)
            await ready(obs, setup, "desk")
            m = obs.mark()
            await obs.send(setup.topics.set("desk"), {"program": "office-break"})
            before = await state_where(
                obs, setup, "desk", lambda d: d["program_state"] == "running", after=m
            )
        node = setup.bridge.node("desk")
        live_broker.stop()
        connections = setup.bridge.connections
        await asyncio.sleep(1.5)
        during = node.state()
        assert during is not None
        assert (during["program"], during["program_state"]) == ("office-break", "running")
        assert during["progress"]["elapsed_s"] > before["progress"]["elapsed_s"]
        assert sim.link_count == 1  # the device session never noticed
        live_broker.start()
        # The restarted broker kept nothing; the bridge publishes it all again.
        async with observer(live_broker, setup.watch) as obs:
            await obs.wait(setup.topics.bridge_state, lambda p: p == b"online", within=20)
            after = await state_where(
                obs,
                setup,
                "desk",
                lambda d: (
                    d["progress"] is not None
                    and d["progress"]["elapsed_s"] > during["progress"]["elapsed_s"]
                ),
                within=20,
            )
            assert after["program_state"] == "running"
            await obs.wait(setup.topics.availability("desk"), lambda p: p == b"online")
            await obs.wait(config_topic(setup, "desk"))
            assert setup.bridge.connections == connections + 1
            # And commands work again.
            m = obs.mark()
            await obs.send(setup.topics.set("desk"), {"program": "none"})
            await state_where(obs, setup, "desk", lambda d: d["program"] == "none", after=m)


async def test_a_device_link_drop_shows_offline_and_recovers(live_broker: BrokerProcess) -> None:
    sim = SimulatedDevice("heat4")
    async with sim, running_bridge(live_broker) as setup, observer(live_broker, setup.watch) as obs:
        await add(setup, "sim://heat4", "sofa", simulator=sim, reconnect_grace_s=0.5)
        await ready(obs, setup, "sofa")
        availability = setup.topics.availability("sofa")

        # A short drop: the client reconnects within its grace period.
        m = obs.mark()
        sim.drop_links()
        await obs.wait(availability, lambda p: p == b"offline", after=m)
        await obs.wait(availability, lambda p: p == b"online", after=m)

        # A long one: the session ends, the bridge keeps trying in the background.
        m = obs.mark()
        sim.faults = FaultConfig(drop_after_s=0.0)
        sim.drop_links()
        await obs.wait(availability, lambda p: p == b"offline", after=m)
        lost = await state_where(obs, setup, "sofa", lambda d: d["link"] == "offline", after=m)
        assert lost["status"] == "link lost"
        await asyncio.sleep(1.5)
        assert obs.last[availability] == b"offline"
        assert setup.bridge.node("sofa").phase in ("lost", "connecting")
        m = obs.mark()
        await obs.send(setup.topics.set("sofa"), {"intensity": 1})
        error = await error_after(obs, setup, "sofa", m)
        assert "not connected" in error["error"]
        m = obs.mark()
        sim.faults = FaultConfig()
        await obs.wait(availability, lambda p: p == b"online", after=m, within=20)
        m = obs.mark()
        await obs.send(setup.topics.set("sofa"), {"intensity": 1})
        await state_where(obs, setup, "sofa", lambda d: d["intensity"] == 1, after=m)
        await on_device(lambda: sim.commanded == (1, 1, 1, 1))


# -- several bridges -----------------------------------------------------------------------


async def test_two_bridges_on_one_broker_never_fight(live_broker: BrokerProcess) -> None:
    sim = SimulatedDevice("heat4")
    prefix = "shared" + str(id(sim) % 100000)
    async with (
        sim,
        observer(live_broker, f"{prefix}/#") as obs,
        running_bridge(live_broker, base=prefix, bridge_id="alpha") as a,
    ):
        await add(a, "sim://heat4", "sofa", simulator=sim)
        await ready(obs, a, "sofa")
        async with running_bridge(live_broker, base=prefix, bridge_id="beta") as b:
            await obs.wait(b.topics.bridge_state, lambda p: p == b"online")
            await add(b, "sim://heat4", "sofa", simulator=sim)
            node_b = b.bridge.node("sofa")
            for _ in range(50):
                if node_b.phase == "standby":
                    break
                await asyncio.sleep(0.05)
            assert node_b.phase == "standby"
            assert "alpha" in (node_b.error or "")
            assert sim.link_count == 1  # beta never opened a link
            assert a.topics.bridge_state != b.topics.bridge_state
            claim = obs.json(a.topics.claim("sofa"))
            assert claim["owner"] == "alpha"
            # Commands go through alpha only.
            m = obs.mark()
            await obs.send(a.topics.set("sofa"), {"intensity": 1})
            await state_where(obs, a, "sofa", lambda d: d["intensity"] == 1, after=m)
            await on_device(lambda: sim.commanded == (1, 1, 1, 1))
            m = obs.mark()
            # alpha goes away: beta takes over, and says so.
            await a.bridge.stop()
            await obs.wait(a.topics.claim("sofa"), lambda p: b'"beta"' in p, after=m)
            await obs.wait(a.topics.availability("sofa"), lambda p: p == b"online", after=m)
            power = await component(obs, b, "sofa", "power", after=m)
            assert power["availability"][1]["topic"] == b.topics.bridge_state
            assert b.bridge.node("sofa").phase == "active"
            assert sim.link_count == 1


async def test_two_bridges_starting_together_agree_on_one_holder(
    live_broker: BrokerProcess,
) -> None:
    sims = [SimulatedDevice("neck2"), SimulatedDevice("neck2")]
    prefix = "race" + str(id(sims) % 100000)
    async with (
        sims[0],
        sims[1],
        observer(live_broker, f"{prefix}/#") as obs,
        running_bridge(live_broker, base=prefix, bridge_id="one") as one,
        running_bridge(live_broker, base=prefix, bridge_id="two") as two,
    ):
        await asyncio.gather(
            one.bridge.add_device(DeviceConfig("sim://neck2", id="desk"), simulator=sims[0]),
            two.bridge.add_device(DeviceConfig("sim://neck2", id="desk"), simulator=sims[1]),
        )
        phases: list[str] = []
        for _ in range(100):
            phases = sorted([one.bridge.node("desk").phase, two.bridge.node("desk").phase])
            if phases == ["active", "standby"]:
                break
            await asyncio.sleep(0.05)
        assert phases == ["active", "standby"]
        holder = one if one.bridge.node("desk").phase == "active" else two
        await asyncio.sleep(CONTEST_WAIT)
        claim = json.loads(obs.last[one.topics.claim("desk")])
        assert claim["owner"] == holder.bridge.owner
        power = merged(obs.json(config_topic(one, "desk")), "power")
        assert power["availability"][1]["topic"] == holder.topics.bridge_state


CONTEST_WAIT = 1.5


# -- amqtt's broker ---------------------------------------------------------------------------


async def test_the_bridge_works_on_amqtts_broker_too(tmp_path: Path) -> None:
    amqtt = BrokerProcess(tmp_path, "amqtt")
    amqtt.start()
    try:
        async with running_bridge(amqtt) as setup, observer(amqtt, setup.watch) as obs:
            await add(setup, "sim://neck2", "desk")
            await ready(obs, setup, "desk")
            await obs.wait(config_topic(setup, "desk"))
            m = obs.mark()
            await obs.publish(setup.topics.set_attr("desk", "intensity"), "2")
            await state_where(obs, setup, "desk", lambda d: d["intensity"] == 2, after=m)
    finally:
        amqtt.stop()
