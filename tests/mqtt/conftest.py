"""Fixtures of the MQTT tests: one real broker process for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mqtt.broker import BrokerProcess


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A broker on 127.0.0.1 (mosquitto, or amqtt's), stopped at the end of the session."""
    proc = BrokerProcess(Path(tmp_path_factory.mktemp("broker")))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def live_broker(broker: BrokerProcess) -> BrokerProcess:
    """The session broker, started again if a test stopped it."""
    if not broker.running:
        broker.start()
    return broker
