"""``mqtts://`` with a CA file, against a broker with a TLS listener."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mqtt.broker import BrokerProcess, make_certificates
from tests.mqtt.helpers import add, observer, running_bridge


@pytest.fixture
def tls_broker(tmp_path: Path, broker: BrokerProcess) -> Iterator[BrokerProcess]:
    """A broker of the session's kind that speaks TLS only, with a test CA."""
    proc = BrokerProcess(tmp_path, broker.kind, tls=make_certificates(tmp_path))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def test_mqtts_with_the_brokers_ca(tls_broker: BrokerProcess) -> None:
    assert tls_broker.url.startswith("mqtts://127.0.0.1:")
    assert tls_broker.tls is not None
    async with (
        running_bridge(tls_broker, ca_file=str(tls_broker.tls.ca)) as setup,
        observer(tls_broker, setup.watch) as obs,
    ):
        await add(setup, "sim://neck2", "desk")
        await obs.wait(setup.topics.availability("desk"), lambda p: p == b"online")
        m = obs.mark()
        await obs.publish(setup.topics.set_attr("desk", "intensity"), "1")
        await obs.wait_json(setup.topics.state("desk"), lambda d: d["intensity"] == 1, after=m)


async def test_a_broker_certificate_nobody_vouches_for_is_refused(
    tls_broker: BrokerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    # Without the test CA, the system's CAs do not trust the broker: no connection.
    async with running_bridge(tls_broker, wait_connected=False) as setup:
        await asyncio.sleep(1.5)
        assert not setup.bridge.connected.is_set()
        assert setup.bridge.connections == 0
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
