"""The MQTT bridge: massagers on a broker, with Home Assistant discovery.

    from massager_sdk.mqtt import Bridge, load_config

    async with Bridge(load_config("bridge.toml")) as bridge:
        await bridge.wait_stopped()

``docs/home-assistant.md`` describes the topics, the command payloads, the
error topic and what appears in Home Assistant.
"""

from massager_sdk.mqtt.bridge import Bridge
from massager_sdk.mqtt.claims import Claim, ClaimBook
from massager_sdk.mqtt.commands import (
    Command,
    CommandContext,
    CommandError,
    parse_json_command,
    parse_plain_command,
)
from massager_sdk.mqtt.config import (
    BridgeConfig,
    BrokerConfig,
    ConfigError,
    DeviceConfig,
    load_config,
    parse_broker_url,
)
from massager_sdk.mqtt.discovery import device_discovery, entities, manufacturer
from massager_sdk.mqtt.node import DeviceNode
from massager_sdk.mqtt.state import state_document
from massager_sdk.mqtt.topics import Topics

__all__ = [
    "Bridge",
    "BridgeConfig",
    "BrokerConfig",
    "Claim",
    "ClaimBook",
    "Command",
    "CommandContext",
    "CommandError",
    "ConfigError",
    "DeviceConfig",
    "DeviceNode",
    "Topics",
    "device_discovery",
    "entities",
    "load_config",
    "manufacturer",
    "parse_broker_url",
    "parse_json_command",
    "parse_plain_command",
    "state_document",
]
