"""A test's own MQTT client: what Home Assistant or a user would see and send."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiomqtt

from massager_sdk.mqtt import Bridge, DeviceConfig, Topics, load_config
from tests.mqtt.broker import BrokerProcess


class Observer:
    """Subscribes to topics, keeps every message, and waits for the ones a test needs."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.messages: list[tuple[str, bytes, bool]] = []  #: (topic, payload, retained)
        self.last: dict[str, bytes] = {}
        self._changed = asyncio.Event()
        self._filters: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async for message in self.client.messages:
            # amqtt's broker sometimes delivers retained messages that match another
            # client's subscription: keep only what this one asked for.
            if not any(message.topic.matches(f) for f in self._filters):
                continue
            payload = message.payload if isinstance(message.payload, bytes) else b""
            topic = message.topic.value
            self.messages.append((topic, payload, bool(message.retain)))
            self.last[topic] = payload
            self._changed.set()

    async def subscribe(self, *topics: str) -> None:
        """Subscribe and wait for the broker's acknowledgement."""
        for topic in topics:
            self._filters.append(topic)
            await self.client.subscribe(topic, qos=1)

    async def publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
        """Publish (QoS 1)."""
        await self.client.publish(topic, payload, qos=1, retain=retain)

    async def send(self, topic: str, obj: Any) -> None:
        """Publish ``obj`` as JSON."""
        await self.publish(topic, json.dumps(obj))

    def json(self, topic: str) -> Any:
        """The last payload on ``topic`` as JSON."""
        return json.loads(self.last[topic])

    def on(self, topic: str) -> list[bytes]:
        """Every payload seen on ``topic``, oldest first."""
        return [p for t, p, _ in self.messages if t == topic]

    def mark(self) -> int:
        """A position in the message log, for :meth:`wait` ``after=``."""
        return len(self.messages)

    async def wait(
        self,
        topic: str,
        predicate: Callable[[bytes], bool] = lambda _: True,
        *,
        after: int = 0,
        within: float = 10.0,
    ) -> bytes:
        """The first payload on ``topic`` (from message ``after`` on) that ``predicate`` accepts."""
        deadline = time.monotonic() + within
        index = after
        while True:
            while index < len(self.messages):
                t, payload, _ = self.messages[index]
                index += 1
                if t == topic and predicate(payload):
                    return payload
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [p for t, p, _ in self.messages[after:] if t == topic][-3:]
                raise AssertionError(f"nothing matching on {topic} in {within} s; last: {seen}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_json(
        self,
        topic: str,
        predicate: Callable[[Any], bool] = lambda _: True,
        *,
        after: int = 0,
        within: float = 10.0,
    ) -> Any:
        """Like :meth:`wait`, for JSON payloads (empty ones are skipped)."""

        def check(payload: bytes) -> bool:
            if not payload:
                return False
            return bool(predicate(json.loads(payload)))

        return json.loads(await self.wait(topic, check, after=after, within=within))

    async def settle(self, quiet: float = 0.3, within: float = 10.0) -> None:
        """Wait until no message has arrived for ``quiet`` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            count = len(self.messages)
            await asyncio.sleep(quiet)
            if len(self.messages) == count:
                return


@contextlib.asynccontextmanager
async def observer(broker: BrokerProcess, *topics: str) -> AsyncIterator[Observer]:
    """A connected :class:`Observer` subscribed to ``topics``."""
    # A client id of its own: amqtt hands every empty id the same session.
    identifier = f"observer-{secrets.token_hex(4)}"
    tls = aiomqtt.TLSParameters(ca_certs=str(broker.tls.ca)) if broker.tls else None
    user, password = broker.credentials or (None, None)
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=identifier,
        tls_params=tls,
        username=user,
        password=password,
    ) as client:
        obs = Observer(client)
        obs._task = asyncio.create_task(obs._read())
        try:
            await obs.subscribe(*topics)
            yield obs
        finally:
            obs._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await obs._task


_counter = 0


def unique_prefix() -> str:
    """A base topic no other test uses (retained messages stay apart on the shared broker)."""
    global _counter
    _counter += 1
    return f"t{_counter}x{secrets.token_hex(3)}"


@dataclasses.dataclass
class Setup:
    """A running bridge and the topics a test talks to."""

    bridge: Bridge
    topics: Topics
    ha: str  #: discovery prefix
    prefix: str  #: the first level of every topic of this bridge

    @property
    def watch(self) -> str:
        """A filter for every topic of this bridge, its devices and their discovery."""
        return f"{self.prefix}/#"


@contextlib.asynccontextmanager
async def running_bridge(
    broker: BrokerProcess,
    *,
    base: str | None = None,
    bridge_id: str | None = None,
    telemetry_interval: float | None = None,
    ca_file: str | None = None,
    wait_connected: bool = True,
    **settings: Any,
) -> AsyncIterator[Setup]:
    """A bridge on ``broker`` with its own base topic and discovery prefix, stopped at the end.

    ``settings`` are other :class:`BridgeConfig` fields (``programs_dir=``...).
    """
    prefix = base or unique_prefix()
    config = load_config(
        broker=broker.url,
        ca_file=ca_file,
        base_topic=f"{prefix}/massager",
        discovery_prefix=f"{prefix}/ha",
        bridge_id=bridge_id,
        client_id=f"{prefix}-{bridge_id or 'bridge'}",
    )
    if telemetry_interval is not None:
        config = dataclasses.replace(config, telemetry_interval_s=telemetry_interval)
    if settings:  # other BridgeConfig fields, e.g. programs_dir=
        config = dataclasses.replace(config, **settings)
    bridge = Bridge(config)
    bridge.start()
    try:
        if wait_connected:
            await asyncio.wait_for(bridge.connected.wait(), 10)
        yield Setup(bridge, config.topics, f"{prefix}/ha", prefix)
    finally:
        await bridge.stop()


async def add(setup: Setup, url: str, device_id: str, **options: Any) -> None:
    """Add a device to the bridge."""
    await setup.bridge.add_device(DeviceConfig(url, id=device_id), **options)


async def on_device(check: Callable[[], bool], within: float = 10) -> None:
    """Wait until the simulated hardware satisfies ``check``.

    The state shows a command as soon as it is accepted; the device follows at
    the pace of the safety ramp.
    """
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "the device never got there"
        await asyncio.sleep(0.02)
