"""Home Assistant MQTT discovery: one device, its components, and their removal.

Each massager is announced by one retained message on
``<prefix>/device/massager_<id>/config`` (device-based discovery, Home
Assistant 2024.11 and later): the ``device`` and ``origin`` blocks, the
availability every component shares, and ``components``, one entry per entity
keyed by its object id with its ``platform``. Entities read the one retained
state topic through a ``value_template`` (the refusal event reads the error
topic) and are available only while both the device and its bridge are
(``availability`` list, ``availability_mode: all``).

Bridges before device-based discovery announced each entity on
``<prefix>/<component>/massager_<id>/<object>/config``; the object ids are the
same, so :func:`legacy_filter` finds such configs and the node migrates them
(``migrate_discovery``, then an empty payload) before it publishes the device config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Any

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.mqtt.commands import ACTIONS, NO_PROGRAM, NO_PROGRAM_OPTION, CommandContext
from massager_sdk.mqtt.topics import OFFLINE, ONLINE, Topics
from massager_sdk.protocols.registry import find_protocol

#: ``origin`` of every discovery payload: who publishes it.
ORIGIN_NAME = "massager-sdk"
#: Kinds of refusal, as the refusal event's ``event_type`` (see :func:`refusal_kind`).
REFUSAL_KINDS = (
    "invalid_command",
    "safety_limit",
    "program_running",
    "no_program",
    "emergency_stop",
    "unavailable",
    "device_error",
)
#: What the device reports that has an entity only once it has been reported.
REPORTED = ("battery", "temperature")


def manufacturer(caps: DeviceCapabilities) -> str | None:
    """Whom Home Assistant shows as the maker (the protocol registration's
    manufacturer); ``None`` (omitted) for a protocol nobody registered."""
    spec = find_protocol(caps.protocol)
    return spec.manufacturer if spec is not None else None


def promised(caps: DeviceCapabilities) -> set[str]:
    """What of :data:`REPORTED` the capabilities say the device has."""
    out = set()
    if caps.battery_mah is not None:
        out.add("battery")
    if caps.heat is not None or caps.has_temperature_sensor:
        out.add("temperature")
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class Entity:
    """One Home Assistant entity of a massager."""

    component: str  #: ``switch``, ``number``, ``select``, ``sensor``, ``button``, ``event``
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
    reported: Collection[str] | None = None,
) -> list[Entity]:
    """The entities a device with ``caps`` gets (heat, zones, battery only where present).

    ``intensity_max`` and ``heat_presets`` narrow the controls to what the safety
    policy will accept (default: everything the device can do), so Home Assistant
    does not offer a level or a heat setting that would only be refused.
    ``reported`` names what of :data:`REPORTED` the device has reported: a battery
    or temperature sensor that would stay ``unknown`` is not created (``None``:
    what its capabilities promise).
    """
    if reported is None:
        reported = promised(caps)
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
    ]
    if len(ctx.zone_keys) > 1:
        for key, zone_name in zip(ctx.zone_keys, ctx.zone_names, strict=True):
            out.append(
                Entity(
                    "number",
                    f"zone_{key}",
                    {
                        "name": f"Intensity {zone_name}",
                        "icon": "mdi:vibrate",
                        "state_topic": state,
                        "value_template": f"{{{{ value_json.zones['{key}'] }}}}",
                        "command_topic": topics.set_attr(device_id, f"zones/{key}"),
                        "min": 0,
                        "max": top,
                        "step": 1,
                        "mode": "slider",
                        "enabled_by_default": False,
                    },
                )
            )
    out.append(
        Entity(
            "select",
            "program",
            {
                "name": "Program",
                "icon": "mdi:playlist-play",
                "state_topic": state,
                # Home Assistant reads a select state "none" as no option at all.
                "value_template": (
                    f"{{{{ '{NO_PROGRAM_OPTION}' if value_json.program == '{NO_PROGRAM}' "
                    "else value_json.program }}"
                ),
                "command_topic": topics.set_attr(device_id, "program"),
                "options": [NO_PROGRAM_OPTION, *programs],
            },
        )
    )
    for action in ACTIONS:
        out.append(
            Entity(
                "button",
                action,
                {
                    "name": f"{action.capitalize()} program",
                    "icon": {
                        "pause": "mdi:pause",
                        "resume": "mdi:play",
                        "skip": "mdi:skip-next",
                    }[action],
                    "command_topic": topics.set_attr(device_id, action),
                },
            )
        )
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
    if "battery" in reported:
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
    if "temperature" in reported:
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
            "session_remaining",
            {
                "name": "Session time left",
                "icon": "mdi:timer-outline",
                "state_topic": state,
                "value_template": "{{ value_json.session_remaining_s }}",
                "device_class": "duration",
                "unit_of_measurement": "s",
            },
        )
    )
    if caps.heat is not None:
        out.append(
            Entity(
                "sensor",
                "thermal_dose",
                {
                    "name": "Thermal dose",
                    "icon": "mdi:thermometer-alert",
                    "state_topic": state,
                    "value_template": "{{ value_json.thermal_dose_pct }}",
                    "unit_of_measurement": "%",
                    "state_class": "measurement",
                    "suggested_display_precision": 1,
                    "entity_category": "diagnostic",
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
    out.append(
        Entity(
            "sensor",
            "last_refusal",
            {
                "name": "Last refusal",
                "icon": "mdi:hand-back-left-outline",
                "state_topic": state,
                "value_template": "{{ value_json.last_refusal }}",
                "entity_category": "diagnostic",
            },
        )
    )
    out.append(
        Entity(
            "event",
            "refusal",
            {
                "name": "Refusal",
                "icon": "mdi:hand-back-left",
                # Every message on the error topic carries its kind as event_type.
                "state_topic": topics.error(device_id),
                "event_types": list(REFUSAL_KINDS),
            },
        )
    )
    return out


def unique_id(device_id: str, object_id: str) -> str:
    """An entity's unique id: the same on every restart for the same device id."""
    return f"massager_{device_id}_{object_id}"


def device_block(device_id: str, name: str, caps: DeviceCapabilities) -> dict[str, Any]:
    """The ``device`` block of a massager (fields the device cannot tell are left out)."""
    block: dict[str, Any] = {
        "identifiers": [f"massager_{device_id}"],
        "name": name,
        "model": caps.model,
    }
    maker = manufacturer(caps)
    if maker:
        block["manufacturer"] = maker
    if caps.firmware.strip():
        block["sw_version"] = caps.firmware
    if caps.serial.strip():
        block["serial_number"] = caps.serial
    return block


def availability(topics: Topics, device_id: str) -> list[dict[str, str]]:
    """Available only while both the device and its bridge say so."""
    return [
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
    ]


def device_discovery(
    topics: Topics,
    device_id: str,
    name: str,
    caps: DeviceCapabilities,
    programs: Sequence[str],
    *,
    sw_version: str,
    intensity_max: int | None = None,
    heat_presets: Sequence[float] | None = None,
    reported: Collection[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """``(topic, payload)`` of the device's discovery config, to publish retained.

    ``intensity_max``, ``heat_presets`` and ``reported``: see :func:`entities`.
    """
    components = {
        entity.object_id: {
            "platform": entity.component,
            "unique_id": unique_id(device_id, entity.object_id),
            **entity.config,
        }
        for entity in entities(
            topics,
            device_id,
            caps,
            programs,
            intensity_max=intensity_max,
            heat_presets=heat_presets,
            reported=reported,
        )
    }
    payload = {
        "device": device_block(device_id, name, caps),
        "origin": {"name": ORIGIN_NAME, "sw_version": sw_version},
        "availability": availability(topics, device_id),
        "availability_mode": "all",
        "components": components,
    }
    return topics.device_discovery(device_id), payload


def legacy_filter(topics: Topics, device_id: str) -> str:
    """A filter matching the per-entity discovery configs older bridges published."""
    return topics.discovery("+", device_id, "+")
