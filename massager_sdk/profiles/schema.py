"""The JSON Schema of device profile files, published as ``docs/profile.schema.json``.

``python -m massager_sdk.profiles.schema`` rewrites the published file; a test
checks that the file is current and that the schema and the loader accept and
refuse the same profiles.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from massager_protocols.nmp import ZonePosition

from massager_sdk.model import Waveform
from massager_sdk.protocols.registry import all_protocols

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "profile.schema.json"
_UUID = (
    "^([0-9a-fA-F]{4}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)


def _uuid(description: str) -> dict[str, Any]:
    return {"type": "string", "pattern": _UUID, "description": description}


def _int(low: int, high: int, description: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high, "description": description}


def _num(low: float, high: float, description: str) -> dict[str, Any]:
    return {"type": "number", "minimum": low, "maximum": high, "description": description}


def _table(properties: dict[str, Any], required: list[str], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


_HEX = {"type": "string", "pattern": "^([0-9a-fA-F]{2})*$", "description": "hex bytes"}


def schema() -> dict[str, Any]:
    """The schema for the registered protocols."""
    protocols = all_protocols()
    described = [name for name, spec in protocols.items() if spec.self_describing]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://massager-sdk.invalid/profile.schema.json",
        "title": "massager-sdk device profile",
        **_table(
            {
                "name": {"type": "string", "minLength": 1, "description": "family name"},
                "protocol": {"enum": list(protocols), "description": "wire protocol"},
                "match": {
                    "type": "array",
                    "minItems": 1,
                    "description": (
                        "ways to recognise it; a rule matches when all its conditions do"
                    ),
                    "items": {
                        **_table(
                            {
                                "names": {
                                    "type": "array",
                                    "items": {"type": "string", "minLength": 1},
                                    "description": "local-name patterns (* and ? wildcards)",
                                },
                                "services": {
                                    "type": "array",
                                    "items": _uuid("an advertised service UUID"),
                                },
                                "manufacturer": {
                                    "type": "array",
                                    "items": _table(
                                        {
                                            "company_id": _int(0, 0xFFFF, "company identifier"),
                                            "prefix": _HEX,
                                        },
                                        ["company_id"],
                                        "manufacturer data starting with prefix",
                                    ),
                                },
                                "service_data": {
                                    "type": "array",
                                    "items": _table(
                                        {"uuid": _uuid("service UUID"), "prefix": _HEX},
                                        ["uuid"],
                                        "service data starting with prefix",
                                    ),
                                },
                            },
                            [],
                            "one rule",
                        ),
                        "minProperties": 1,
                    },
                },
                "gatt": _table(
                    {
                        "service": _uuid("the protocol's service"),
                        "write": _uuid("characteristic the host writes"),
                        "notify": _uuid("characteristic the device notifies"),
                        "battery": _uuid("a readable Battery Level characteristic"),
                        "mtu": _int(23, 517, "the ATT MTU the device prefers"),
                    },
                    ["service", "write", "notify"],
                    "GATT endpoints",
                ),
                "serial": _table(
                    {
                        "baud": _int(300, 4_000_000, "baud rate"),
                        "bytesize": _int(5, 8, "data bits"),
                        "parity": {"enum": ["N", "E", "O"]},
                        "stopbits": _int(1, 2, "stop bits"),
                    },
                    [],
                    "serial line parameters",
                ),
                "device": _table(
                    {
                        "model": {"type": "string", "minLength": 1},
                        "intensity_steps": _int(1, 255, "levels are 0..steps"),
                        "watchdog_s": _num(0.5, 3600, "keepalives come faster than this"),
                        "min_gap_s": _num(0, 10, "smallest gap between output commands"),
                        "auto_off_default_s": _int(1, 0xFFFF, "the device's own auto-off"),
                        "auto_off_max_s": _int(1, 0xFFFF, "longest auto-off"),
                        "battery_mah": _int(1, 0xFFFF, "absent on mains power"),
                        "button": {"type": "boolean"},
                        "electrical": {
                            "type": "boolean",
                            "description": "outputs are electrical stimulation (EMS/TENS pads)",
                        },
                        "zones": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 8,
                            "items": _table(
                                {
                                    "name": {"type": "string", "minLength": 1},
                                    "position": {"enum": list(ZonePosition.__members__)},
                                    "device_zone": _int(0, 255, "the protocol's number for it"),
                                },
                                ["name", "position"],
                                "a zone",
                            ),
                        },
                        "modes": {
                            "type": "array",
                            "items": _table(
                                {
                                    "value": _int(0, 255, "the protocol's value"),
                                    "name": {"type": "string", "minLength": 1},
                                    "waveform": {"enum": [w.value for w in Waveform]},
                                    "period_s": _num(0, 60, "rhythm of pulse and wave modes"),
                                },
                                ["value", "name", "waveform"],
                                "a program of the device",
                            ),
                        },
                        "heat": _table(
                            {
                                "limit_c": _num(30, 60, "the heater never exceeds this"),
                                "levels": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": _table(
                                        {
                                            "value": _int(0, 255, "the protocol's value"),
                                            "temperature_c": _num(20, 60, "what it reaches"),
                                        },
                                        ["value", "temperature_c"],
                                        "a heat level",
                                    ),
                                },
                            },
                            ["limit_c", "levels"],
                            "the heater",
                        ),
                    },
                    [
                        "model",
                        "intensity_steps",
                        "watchdog_s",
                        "auto_off_default_s",
                        "auto_off_max_s",
                        "zones",
                    ],
                    "capabilities, for protocols without an INFO message",
                ),
                "options": {"type": "object", "description": "protocol-specific settings"},
            },
            ["name", "protocol", "match"],
            "One device family: how to recognise it, how it speaks, what it can do. "
            "The file's name (without .toml) is the profile id.",
        ),
        "allOf": [
            {
                "if": {"properties": {"protocol": {"not": {"enum": described}}}},
                "then": {
                    "required": ["device"],
                    "properties": {"device": {"required": ["modes"]}},
                },
            }
        ],
    }


def render() -> str:
    """The schema as published."""
    return json.dumps(schema(), indent=2) + "\n"


def main() -> int:
    """Rewrite ``docs/profile.schema.json``."""
    SCHEMA_PATH.write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
