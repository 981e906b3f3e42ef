"""A broker that requires a user name and password (and TLS with them): the bridge
gets in with the URL's credentials, stays out with wrong ones, and never logs them."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from massager_sdk.mqtt import Bridge
from massager_sdk.mqtt.config import load_config
from tests.mqtt.broker import BrokerProcess, make_certificates
from tests.mqtt.helpers import add, observer, running_bridge

USER, PASSWORD = "bridge", "s3cret:p@ss"
ENCODED = "s3cret%3Ap%40ss"  # as it goes in a URL


def _broker(tmp_path: Path, kind: str, *, tls: bool) -> Iterator[BrokerProcess]:
    if kind != "mosquitto":
        pytest.skip("the password-protected test broker is set up with mosquitto only")
    proc = BrokerProcess(
        tmp_path,
        kind,
        tls=make_certificates(tmp_path) if tls else None,
        credentials=(USER, PASSWORD),
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def locked_broker(tmp_path: Path, broker: BrokerProcess) -> Iterator[BrokerProcess]:
    """A broker of the session's kind that lets in one user with a password."""
    yield from _broker(tmp_path, broker.kind, tls=False)


@pytest.fixture
def locked_tls_broker(tmp_path: Path, broker: BrokerProcess) -> Iterator[BrokerProcess]:
    """A TLS-only broker that lets in one user with a password."""
    yield from _broker(tmp_path, broker.kind, tls=True)


def _url(broker: BrokerProcess, password: str) -> str:
    scheme = "mqtts" if broker.tls else "mqtt"
    return f"{scheme}://{USER}:{password}@{broker.host}:{broker.port}"


async def _drive(broker: BrokerProcess, ca_file: str | None = None) -> None:
    async with (
        running_bridge(broker, ca_file=ca_file) as setup,
        observer(broker, setup.watch) as obs,
    ):
        await add(setup, "sim://neck2", "desk")
        await obs.wait(setup.topics.availability("desk"), lambda p: p == b"online")
        m = obs.mark()
        await obs.publish(setup.topics.set_attr("desk", "intensity"), "1")
        await obs.wait_json(setup.topics.state("desk"), lambda d: d["intensity"] == 1, after=m)


async def test_the_urls_credentials_let_the_bridge_in(locked_broker: BrokerProcess) -> None:
    assert locked_broker.url == _url(locked_broker, ENCODED)
    await _drive(locked_broker)


async def test_credentials_over_tls(locked_tls_broker: BrokerProcess) -> None:
    assert locked_tls_broker.tls is not None
    await _drive(locked_tls_broker, ca_file=str(locked_tls_broker.tls.ca))


async def test_a_wrong_password_keeps_the_bridge_out_and_is_never_logged(
    locked_broker: BrokerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-password"
    config = load_config(broker=_url(locked_broker, wrong), client_id="locked-out")
    bridge = Bridge(dataclasses.replace(config, reconnect_max_s=1.0))
    bridge.start()
    try:
        await asyncio.sleep(1.5)
        assert not bridge.connected.is_set()
        assert bridge.connections == 0
    finally:
        await bridge.stop()
    assert caplog.records  # the refusal was logged...
    assert "Not authorized" in caplog.text  # ...saying why...
    assert wrong not in caplog.text and PASSWORD not in caplog.text  # ...without a password


async def test_no_credentials_keep_the_bridge_out(locked_broker: BrokerProcess) -> None:
    config = load_config(
        broker=f"mqtt://{locked_broker.host}:{locked_broker.port}", client_id="anonymous"
    )
    bridge = Bridge(config)
    bridge.start()
    try:
        await asyncio.sleep(1.5)
        assert not bridge.connected.is_set()
    finally:
        await bridge.stop()
