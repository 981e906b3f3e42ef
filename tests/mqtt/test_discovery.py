"""Home Assistant discovery payloads, field by field, against HA's documented schema.

The field tables below are those of Home Assistant's MQTT integration pages
(home-assistant.io/integrations/switch.mqtt, number.mqtt, select.mqtt,
sensor.mqtt, button.mqtt, event.mqtt and the shared availability, device and
origin blocks). The device-based config is split into one config per component
the way Home Assistant does it (the shared options go into every component);
every field must be one of the documented ones, with the documented type, and
the templates are rendered with Jinja2 (Home Assistant's template engine)
against a real state document.
"""

from __future__ import annotations

import json
from typing import Any

import aiomqtt
import jinja2
import pytest
from massager_simulator.model import load_model

from massager_sdk import __version__
from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.model import DeviceStatus
from massager_sdk.mqtt.discovery import (
    REFUSAL_KINDS,
    REPORTED,
    device_discovery,
    legacy_filter,
    unique_id,
)
from massager_sdk.mqtt.state import ProgramView, state_document
from massager_sdk.mqtt.topics import Topics
from massager_sdk.protocols.nmp import capabilities_from_info

PROGRAMS = ("classic", "evening-heat", "office-break")

# -- Home Assistant's documented fields -----------------------------------------

COMMON = {
    "availability": list,
    "availability_mode": str,
    "availability_template": str,
    "availability_topic": str,
    "device": dict,
    "enabled_by_default": bool,
    "encoding": str,
    "entity_category": str,
    "entity_picture": str,
    "icon": str,
    "json_attributes_template": str,
    "json_attributes_topic": str,
    "name": str,
    "default_entity_id": str,
    "origin": dict,
    "platform": str,
    "qos": int,
    "unique_id": str,
}
PLATFORMS: dict[str, dict[str, Any]] = {
    "switch": {
        "fields": {
            "command_template": str,
            "command_topic": str,
            "device_class": str,
            "optimistic": bool,
            "payload_off": str,
            "payload_on": str,
            "retain": bool,
            "state_off": str,
            "state_on": str,
            "state_topic": str,
            "value_template": str,
        },
        "required": {"command_topic"},
    },
    "number": {
        "fields": {
            "command_template": str,
            "command_topic": str,
            "device_class": str,
            "max": (int, float),
            "min": (int, float),
            "mode": str,
            "optimistic": bool,
            "payload_reset": str,
            "retain": bool,
            "state_topic": str,
            "step": (int, float),
            "unit_of_measurement": str,
            "value_template": str,
        },
        "required": {"command_topic"},
    },
    "select": {
        "fields": {
            "command_template": str,
            "command_topic": str,
            "optimistic": bool,
            "options": list,
            "retain": bool,
            "state_topic": str,
            "value_template": str,
        },
        "required": {"command_topic", "options"},
    },
    "button": {
        "fields": {
            "command_template": str,
            "command_topic": str,
            "device_class": str,
            "payload_press": str,
            "retain": bool,
        },
        "required": {"command_topic"},
    },
    "event": {
        "fields": {
            "device_class": str,
            "event_types": list,
            "state_topic": str,
            "value_template": str,
        },
        "required": {"state_topic", "event_types"},
    },
    "sensor": {
        "fields": {
            "device_class": str,
            "expire_after": int,
            "force_update": bool,
            "last_reset_value_template": str,
            "options": list,
            "state_class": str,
            "state_topic": str,
            "suggested_display_precision": int,
            "unit_of_measurement": str,
            "value_template": str,
        },
        "required": {"state_topic"},
    },
}
AVAILABILITY_FIELDS = {"topic", "payload_available", "payload_not_available", "value_template"}
DEVICE_FIELDS = {
    "configuration_url",
    "connections",
    "hw_version",
    "identifiers",
    "manufacturer",
    "model",
    "model_id",
    "name",
    "serial_number",
    "suggested_area",
    "sw_version",
    "via_device",
}
ORIGIN_FIELDS = {"name", "sw_version", "support_url"}
ENUMS = {
    "availability_mode": {"all", "any", "latest"},
    "entity_category": {"config", "diagnostic"},
    "mode": {"auto", "box", "slider"},
    "state_class": {"measurement", "total", "total_increasing"},
}
#: Units Home Assistant accepts for the sensor device classes used.
SENSOR_UNITS = {
    "battery": {"%"},
    "temperature": {"°C", "°F", "K"},
    "duration": {"d", "h", "min", "s", "ms", "μs"},
}


def caps(model: str) -> DeviceCapabilities:
    return capabilities_from_info(load_model(model).info())


#: The keys of a device-based config (Home Assistant's DEVICE_DISCOVERY_SCHEMA).
DEVICE_CONFIG_KEYS = {
    "device",
    "origin",
    "components",
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "payload_available",
    "payload_not_available",
    "state_topic",
    "command_topic",
    "qos",
    "encoding",
}
#: Options of the device config that Home Assistant copies into each component.
SHARED_OPTIONS = {
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "command_topic",
    "payload_available",
    "payload_not_available",
    "state_topic",
}


def device_config(
    model: str, topics: Topics | None = None, reported: tuple[str, ...] | None = None
) -> tuple[str, dict[str, Any]]:
    return device_discovery(
        topics or Topics(),
        "sofa",
        "Sofa massager",
        caps(model),
        PROGRAMS,
        sw_version=__version__,
        reported=reported,
    )


def split(payload: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """A device config as Home Assistant splits it: object id -> (component, config)."""
    out = {}
    for object_id, component in payload["components"].items():
        config = {k: v for k, v in component.items() if k != "platform"}
        config["device"] = payload["device"]
        config["origin"] = payload["origin"]
        for option in SHARED_OPTIONS:
            if option in payload and option not in config:
                config[option] = payload[option]
        out[object_id] = (component["platform"], config)
    return out


def messages(
    model: str, topics: Topics | None = None, reported: tuple[str, ...] | None = None
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each component's config, by object id: (component, config)."""
    return split(device_config(model, topics, reported)[1])


def render(template: str, doc: dict[str, Any]) -> str:
    """A value template as Home Assistant renders it (``value_json`` is the parsed payload)."""
    env = jinja2.Environment(autoescape=False)
    return env.from_string(template).render(value_json=json.loads(json.dumps(doc)))


def status(**changes: Any) -> DeviceStatus:
    base: dict[str, Any] = {
        "intensities": (3, 3, 0, 0),
        "heat_target_c": 40.0,
        "temperature_c": 36.25,
        "battery_pct": 87,
        "battery_mv": 3900,
        "charging": False,
        "auto_off_s": 812,
        "faults": frozenset(),
    }
    base.update(changes)
    return DeviceStatus(**base)


ZONES = ("left_neck", "right_neck", "left_shoulder", "right_shoulder")


# -- the tests --------------------------------------------------------------------


def test_heat4_gets_every_entity_in_one_device_config() -> None:
    topic, payload = device_config("heat4")
    assert topic == "homeassistant/device/massager_sofa/config"
    assert set(payload) <= DEVICE_CONFIG_KEYS
    assert {"device", "origin", "components"} <= set(payload)
    zones = {f"zone_{z}": "number" for z in ZONES}
    assert {k: v[0] for k, v in messages("heat4").items()} == {
        "power": "switch",
        "intensity": "number",
        **zones,
        "program": "select",
        "pause": "button",
        "resume": "button",
        "skip": "button",
        "heat": "select",
        "battery": "sensor",
        "temperature": "sensor",
        "remaining": "sensor",
        "session_remaining": "sensor",
        "thermal_dose": "sensor",
        "status": "sensor",
        "last_refusal": "sensor",
        "refusal": "event",
    }


def test_a_device_without_heater_has_no_heat_select_nor_temperature() -> None:
    got = messages("neck2")
    assert not {"heat", "temperature", "thermal_dose"} & set(got)
    assert {"power", "intensity", "program", "battery", "remaining", "status"} <= set(got)


def test_battery_and_temperature_only_once_the_device_reported_them() -> None:
    assert not set(REPORTED) & set(messages("heat4", reported=()))
    assert "battery" in messages("heat4", reported=("battery",))
    assert "temperature" not in messages("heat4", reported=("battery",))


def test_zone_intensities_are_disabled_by_default_and_drive_their_zone() -> None:
    got = messages("heat4")
    doc = state_document(status(intensities=(1, 2, 3, 4)), ZONES)
    for level, zone in enumerate(ZONES, start=1):
        _, p = got[f"zone_{zone}"]
        assert p["enabled_by_default"] is False
        assert p["command_topic"] == f"massager/sofa/set/zones/{zone}"
        assert render(p["value_template"], doc) == str(level)
    # One zone: the intensity number is that zone.
    assert not [k for k in messages("handheld") if k.startswith("zone_")]


def test_pause_resume_and_skip_buttons() -> None:
    got = messages("heat4")
    for action in ("pause", "resume", "skip"):
        component, p = got[action]
        assert component == "button"
        assert p["command_topic"] == f"massager/sofa/set/{action}"


def test_refusals_have_an_event_and_a_diagnostic_sensor() -> None:
    got = messages("heat4")
    _, event = got["refusal"]
    assert event["state_topic"] == "massager/sofa/error"
    assert event["event_types"] == list(REFUSAL_KINDS)
    _, sensor = got["last_refusal"]
    assert sensor["entity_category"] == "diagnostic"
    doc = state_document(status(), ZONES, last_refusal="intensity: 9 is out of range")
    assert render(sensor["value_template"], doc) == "intensity: 9 is out of range"
    assert render(sensor["value_template"], state_document(status(), ZONES)) == "None"


def test_session_time_left_and_thermal_dose_come_from_the_safety_snapshot() -> None:
    got = messages("heat4")
    safety = {"session_remaining_s": 1199.2, "thermal_dose_fraction": 0.01234}
    doc = state_document(status(), ZONES, safety=safety)
    assert render(got["session_remaining"][1]["value_template"], doc) == "1200"
    assert render(got["thermal_dose"][1]["value_template"], doc) == "1.23"
    assert got["session_remaining"][1]["unit_of_measurement"] == "s"
    assert got["thermal_dose"][1]["unit_of_measurement"] == "%"


@pytest.mark.parametrize("model", ["heat4", "neck2", "handheld"])
def test_every_field_is_documented_with_its_type(model: str) -> None:
    for object_id, (component, payload) in messages(model).items():
        platform = PLATFORMS[component]
        allowed = {**COMMON, **platform["fields"]}
        for key, value in payload.items():
            assert key in allowed, f"{object_id}: {key} is not a documented {component} field"
            assert isinstance(value, allowed[key]), f"{object_id}.{key}: {value!r}"
            if key in ENUMS:
                assert value in ENUMS[key], f"{object_id}.{key}={value!r}"
        missing = platform["required"] - set(payload)
        assert not missing, f"{object_id} lacks required {missing}"
        assert "unique_id" in payload
        for entry in payload["availability"]:
            assert set(entry) <= AVAILABILITY_FIELDS
            assert "topic" in entry
        assert set(payload["device"]) <= DEVICE_FIELDS
        assert set(payload["origin"]) <= ORIGIN_FIELDS
        assert "name" in payload["origin"]
        # availability_topic and availability are exclusive in Home Assistant.
        assert "availability_topic" not in payload


def test_availability_needs_both_the_device_and_the_bridge() -> None:
    topics = Topics(bridge_id="lounge")
    for _, payload in messages("heat4", topics).values():
        assert payload["availability_mode"] == "all"
        assert payload["availability"] == [
            {
                "topic": "massager/sofa/availability",
                "payload_available": "online",
                "payload_not_available": "offline",
            },
            {
                "topic": "massager/bridge/lounge/state",
                "payload_available": "online",
                "payload_not_available": "offline",
            },
        ]


def test_one_device_block_and_stable_unique_ids() -> None:
    first = messages("heat4")
    again = messages("heat4")
    ids = [p["unique_id"] for _, p in first.values()]
    assert len(set(ids)) == len(ids)
    assert ids == [p["unique_id"] for _, p in again.values()]
    assert first["power"][1]["unique_id"] == unique_id("sofa", "power") == "massager_sofa_power"
    devices = {json.dumps(p["device"], sort_keys=True) for _, p in first.values()}
    assert len(devices) == 1
    assert first["power"][1]["device"] == {
        "identifiers": ["massager_sofa"],
        "name": "Sofa massager",
        "model": "NMP Heat 4",
        "manufacturer": "NMP/1 compatible",
        "sw_version": "1.3.0",
        "serial_number": "H4-000001",
    }
    assert first["power"][1]["origin"] == {"name": "massager-sdk", "sw_version": __version__}


def test_power_switch() -> None:
    _, p = messages("heat4")["power"]
    assert p["command_topic"] == "massager/sofa/set/state"
    assert p["state_topic"] == "massager/sofa"
    assert (p["payload_on"], p["payload_off"]) == ("ON", "OFF")
    assert (p["state_on"], p["state_off"]) == ("ON", "OFF")
    on = state_document(status(), ZONES)
    off = state_document(status(intensities=(0,) * 4, heat_target_c=None), ZONES)
    assert render(p["value_template"], on) == "ON"
    assert render(p["value_template"], off) == "OFF"


@pytest.mark.parametrize(("model", "steps"), [("heat4", 10), ("neck2", 5)])
def test_intensity_number_spans_the_devices_steps(model: str, steps: int) -> None:
    _, p = messages(model)["intensity"]
    assert (p["min"], p["max"], p["step"], p["mode"]) == (0, steps, 1, "slider")
    assert p["command_topic"] == "massager/sofa/set/intensity"
    assert render(p["value_template"], state_document(status(), ZONES)) == "3"


def test_program_select_never_shows_none_which_home_assistant_reads_as_no_option() -> None:
    _, p = messages("heat4")["program"]
    assert p["options"] == ["(no program)", *PROGRAMS]
    assert not [o for o in p["options"] if o.lower() == "none"]
    assert p["command_topic"] == "massager/sofa/set/program"
    idle = state_document(status(), ZONES)
    assert render(p["value_template"], idle) == "(no program)"
    playing = state_document(status(), ZONES, program=ProgramView("classic", duration_s=60))
    assert render(p["value_template"], playing) == "classic"


def test_heat_select_shows_a_preset_or_off() -> None:
    _, p = messages("heat4")["heat"]
    assert p["options"] == ["off", "38", "40", "42"]
    assert p["command_topic"] == "massager/sofa/set/heat"
    for target, shown in [(38.0, "38"), (40.0, "40"), (42.0, "42"), (None, "off")]:
        doc = state_document(status(heat_target_c=target), ZONES)
        rendered = render(p["value_template"], doc)
        assert rendered == shown
        assert rendered in p["options"]


def test_sensors_have_their_device_class_and_unit() -> None:
    got = messages("heat4")
    doc = state_document(status(), ZONES)
    expected = {
        "battery": ("battery", "%", "87"),
        "temperature": ("temperature", "°C", "36.2"),
        "remaining": ("duration", "s", "812"),
    }
    for object_id, (device_class, unit, value) in expected.items():
        _, p = got[object_id]
        assert p["device_class"] == device_class
        assert p["unit_of_measurement"] == unit
        assert unit in SENSOR_UNITS[device_class]
        assert p["state_topic"] == "massager/sofa"
        assert render(p["value_template"], doc) == value
    assert got["battery"][1]["state_class"] == "measurement"
    assert got["temperature"][1]["state_class"] == "measurement"


def test_status_sensor_is_plain_text() -> None:
    _, p = messages("heat4")["status"]
    assert "device_class" not in p and "unit_of_measurement" not in p
    assert render(p["value_template"], state_document(status(), ZONES)) == "massaging and heating"


def test_unknown_values_render_as_none_which_home_assistant_reads_as_unknown() -> None:
    got = messages("heat4")
    doc = state_document(status(temperature_c=None, battery_pct=None), ZONES)
    assert render(got["temperature"][1]["value_template"], doc) == "None"
    assert render(got["battery"][1]["value_template"], doc) == "None"


def test_the_legacy_filter_matches_what_older_bridges_announced() -> None:
    topics = Topics()
    old = topics.discovery("switch", "sofa", "power")
    assert old == "homeassistant/switch/massager_sofa/power/config"
    assert aiomqtt.Topic(old).matches(legacy_filter(topics, "sofa"))
    assert not aiomqtt.Topic(topics.discovery("switch", "sofa2", "power")).matches(
        legacy_filter(topics, "sofa")
    )


def test_a_custom_prefix_moves_the_discovery_topic() -> None:
    topic, payload = device_config("heat4", Topics(base="m", discovery_prefix="hass"))
    assert topic == "hass/device/massager_sofa/config"
    assert payload["components"]["power"]["command_topic"] == "m/sofa/set/state"
