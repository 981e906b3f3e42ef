"""The topic layout: what a bridge publishes, subscribes to, and how it reads topics."""

from __future__ import annotations

import pytest

from massager_sdk.mqtt.topics import Incoming, Topics, check_id, check_topic_prefix, slug


def test_device_topics_hang_below_the_base_topic() -> None:
    t = Topics(base="home/massage")
    assert t.state("sofa") == "home/massage/sofa"
    assert t.set("sofa") == "home/massage/sofa/set"
    assert t.set_attr("sofa", "intensity") == "home/massage/sofa/set/intensity"
    assert t.availability("sofa") == "home/massage/sofa/availability"
    assert t.error("sofa") == "home/massage/sofa/error"
    assert t.claim("sofa") == "home/massage/sofa/claim"
    assert t.device_subscriptions("sofa") == ["home/massage/sofa/set/#"]


def test_a_bridge_without_id_uses_the_plain_bridge_topics() -> None:
    t = Topics()
    assert t.bridge_state == "massager/bridge/state"
    assert t.request("devices") == "massager/bridge/request/devices"
    assert t.response("devices") == "massager/bridge/response/devices"
    assert t.bridge_error == "massager/bridge/error"


def test_each_bridge_with_an_id_has_its_own_state_topic() -> None:
    a, b = Topics(bridge_id="lounge"), Topics(bridge_id="bedroom")
    assert a.bridge_state == "massager/bridge/lounge/state"
    assert b.bridge_state == "massager/bridge/bedroom/state"
    assert a.response("devices") == "massager/bridge/lounge/response/devices"
    # A bridge with an id also answers site-wide requests.
    assert "massager/bridge/request/+" in a.bridge_subscriptions()
    assert "massager/bridge/request/+" in Topics().bridge_subscriptions()


def test_discovery_topics_follow_home_assistants_layout() -> None:
    t = Topics(discovery_prefix="ha")
    assert t.discovery("switch", "sofa", "power") == "ha/switch/massager_sofa/power/config"
    assert t.ha_status == "ha/status"


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("massager/sofa/set", Incoming("set", "sofa")),
        ("massager/sofa/set/intensity", Incoming("set_attr", "sofa", "intensity")),
        ("massager/sofa/set/zones/left_neck", Incoming("set_attr", "sofa", "zones/left_neck")),
        ("massager/sofa/claim", Incoming("claim", "sofa")),
        ("massager/bridge/state", Incoming("bridge_state")),
        ("massager/bridge/bedroom/state", Incoming("bridge_state")),
        ("massager/bridge/request/devices", Incoming("request", attr="devices")),
        ("massager/bridge/lounge/request/add", Incoming("request", attr="add")),
        ("homeassistant/status", Incoming("ha_status")),
        ("massager/sofa", None),  # our own state
        ("massager/sofa/availability", None),
        ("massager/bridge/bedroom/request/add", None),  # another bridge's request
        ("other/sofa/set", None),
    ],
)
def test_parse_reads_what_a_topic_means(topic: str, expected: Incoming | None) -> None:
    assert Topics(bridge_id="lounge").parse(topic) == expected


@pytest.mark.parametrize("good", ["sofa", "h4_000001", "lounge-2", "a", "0abc"])
def test_valid_ids(good: str) -> None:
    assert check_id(good) == good


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("Sofa", "lower-case"),
        ("so/fa", "lower-case"),
        ("so+fa", "lower-case"),
        ("", "lower-case"),
        ("_x", "starting with"),
        ("x" * 65, "1-64"),
        ("bridge", "reserved"),
        (3, "must be a string"),
    ],
)
def test_invalid_ids_are_refused_with_the_rule(bad: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        check_id(bad)


@pytest.mark.parametrize("bad", ["", "a/", "/a", "a//b", "a/+", "a/#"])
def test_bad_topic_prefixes(bad: str) -> None:
    with pytest.raises(ValueError, match="base topic"):
        check_topic_prefix(bad, "base topic")


def test_slug() -> None:
    assert slug("Left Neck") == "left_neck"
    assert slug("H4-000001") == "h4_000001"
    assert slug("AA:BB:CC") == "aa_bb_cc"
