"""The MQTT tests' broker, for the ledger's bridge test."""

from tests.mqtt.conftest import broker, live_broker

__all__ = ["broker", "live_broker"]
