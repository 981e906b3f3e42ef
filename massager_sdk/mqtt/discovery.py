"""Home Assistant MQTT discovery: one device, its entities, and their removal.

Each entity is announced on ``<prefix>/<component>/massager_<id>/<object>/config``
(single-component discovery) with the field names of Home Assistant's MQTT
switch, number, select and sensor platforms. Every entity reads the one retained
state topic through a ``value_template`` and is available only while both the
device and its bridge are (``availability`` list, ``availability_mode: all``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.mqtt.commands import NO_PROGRAM, CommandContext
from massager_sdk.mqtt.topics import OFFLINE, ONLINE, Topics
from massager_sdk.protocols.registry import manufacturer_name

#: ``origin`` of every discovery payload: who publishes it.
ORIGIN_NAME = "massager-sdk"


@dataclasses.dataclass(frozen=True, slots=True)
class Entity:
    """One Home Assistant entity of a massager."""

    component: str  #: ``switch``, ``number``, ``select``, ``sensor``
    object_id: str  #: stable part of the unique id (``power``, ``intensity``...)
    config: dict[str, Any]  #: the component's own fields (without the shared ones)


def entities(
    topics: Topics,
    device_id: str,
    caps: DeviceCapabilities,
    programs: Sequence[str],
    *,
    intensity_max: int | None = None,
    heat_presets: Sequence[float] | None = None,
) -> list[Entity]:
    """The entities a device with ``caps`` gets (heat and battery only where present).

    ``intensity_max`` and ``heat_presets`` narrow the controls to what the safety
    policy will accept (default: everything the device can do), so Home Assistant
    does not offer a level or a heat setting that would only be refused.
    """
    state = topics.state(device_id)
    ctx = CommandContext.from_capabilities(caps, programs)
    if heat_presets is not None:
        ctx = dataclasses.replace(ctx, heat_targets_c=tuple(heat_presets))
    top = caps.intensity_steps if intensity_max is None else max(1, intensity_max)
    out = [
        Entity(
            "switch",
            "power",
            {
                "name": "Power",
                "icon": "mdi:power",
                "state_topic": state,
                "value_template": "{{ value_json.state }}",
                "command_topic": topics.set_attr(device_id, "state"),
                "payload_on": "ON",
                "payload_off": "OFF",
                "state_on": "ON",
                "state_off": "OFF",
            },
        ),
        Entity(
            "number",
            "intensity",
            {
                "name": "Intensity",
                "icon": "mdi:vibrate",
                "state_topic": state,
                "value_template": "{{ value_json.intensity }}",
                "command_topic": topics.set_attr(device_id, "intensity"),
                "min": 0,
                "max": top,
                "step": 1,
                "mode": "slider",
            },
        ),
        Entity(
            "select",
            "program",
            {
                "name": "Program",
                "icon": "mdi:playlist-play",
                "state_topic": state,
                "value_template": "{{ value_json.program }}",
                "command_topic": topics.set_attr(device_id, "program"),
                "options": [NO_PROGRAM, *programs],
            },
        ),
    ]
    if caps.heat is not None:
        out.append(
            Entity(
                "select",
                "heat",
                {
                    "name": "Heat",
                    "icon": "mdi:heat-wave",
                    "state_topic": state,
                    # The state holds null (off) or the target in C; options are text.
                    "value_template": "{{ 'off' if value_json.heat is none else value_json.heat }}",
                    "command_topic": topics.set_attr(device_id, "heat"),
                    "options": ctx.heat_options(),
                },
            )
        )
    if caps.battery_mah is not None:
        out.append(
            Entity(
                "sensor",
                "battery",
                {
                    "name": "Battery",
                    "state_topic": state,
                    "value_template": "{{ value_json.battery }}",
                    "device_class": "battery",
                    "state_class": "measurement",
                    "unit_of_measurement": "%",
                    "entity_category": "diagnostic",
                },
            )
        )
    if caps.heat is not None or caps.has_temperature_sensor:
        out.append(
            Entity(
                "sensor",
                "temperature",
                {
                    "name": "Temperature",
                    "state_topic": state,
                    "value_template": "{{ value_json.temperature }}",
                    "device_class": "temperature",
                    "state_class": "measurement",
                    "unit_of_measurement": "°C",
                    "suggested_display_precision": 1,
                },
            )
        )
    out.append(
        Entity(
            "sensor",
            "remaining",
            {
                "name": "Remaining time",
                "icon": "mdi:timer-sand",
                "state_topic": state,
                "value_template": "{{ value_json.remaining_s }}",
                "device_class": "duration",
                "unit_of_measurement": "s",
            },
        )
    )
    out.append(
        Entity(
            "sensor",
            "status",
            {
                "name": "Status",
                "icon": "mdi:information-outline",
                "state_topic": state,
                "value_template": "{{ value_json.status }}",
            },
        )
    )
    return out


def unique_id(device_id: str, object_id: str) -> str:
    """An entity's unique id: the same on every restart for the same device id."""
    return f"massager_{device_id}_{object_id}"


def device_block(device_id: str, name: str, caps: DeviceCapabilities) -> dict[str, Any]:
    """The ``device`` block every entity of a massager shares."""
    return {
        "identifiers": [f"massager_{device_id}"],
        "name": name,
        "model": caps.model,
        "manufacturer": manufacturer_name(caps.protocol),
        "sw_version": caps.firmware,
        "serial_number": caps.serial,
    }


def discovery_messages(
    topics: Topics,
    device_id: str,
    name: str,
    caps: DeviceCapabilities,
    programs: Sequence[str],
    *,
    sw_version: str,
    intensity_max: int | None = None,
    heat_presets: Sequence[float] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """``(topic, payload)`` of every entity's discovery config, to publish retained.

    ``intensity_max`` and ``heat_presets``: see :func:`entities`.
    """
    shared = {
        "availability": [
            {
                "topic": topics.availability(device_id),
                "payload_available": ONLINE,
                "payload_not_available": OFFLINE,
            },
            {
                "topic": topics.bridge_state,
                "payload_available": ONLINE,
                "payload_not_available": OFFLINE,
            },
        ],
        "availability_mode": "all",
        "device": device_block(device_id, name, caps),
        "origin": {"name": ORIGIN_NAME, "sw_version": sw_version},
    }
    out = []
    narrowed = entities(
        topics,
        device_id,
        caps,
        programs,
        intensity_max=intensity_max,
        heat_presets=heat_presets,
    )
    for entity in narrowed:
        payload = {
            **entity.config,
            "unique_id": unique_id(device_id, entity.object_id),
            **shared,
        }
        out.append((topics.discovery(entity.component, device_id, entity.object_id), payload))
    return out


def removal_topics(
    topics: Topics, device_id: str, caps: DeviceCapabilities, programs: Sequence[str]
) -> list[str]:
    """Discovery topics to clear (empty retained payload) when a device is removed."""
    return [
        topics.discovery(e.component, device_id, e.object_id)
        for e in entities(topics, device_id, caps, programs)
    ]
