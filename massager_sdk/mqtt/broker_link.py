"""The bridge's one broker connection: connect, reconnect, publish, subscribe, read.

The connection reconnects with exponential backoff. After every (re)connection
it subscribes to the bridge's topics, waits until the retained messages have
arrived (an echo of its own message on the sync topic comes after them), then
hands over to the bridge (``on_connected``) before it counts as connected.
Messages go to ``on_message``, except the echoes and the retained messages
:meth:`BrokerLink.read_retained` collects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import aiomqtt

from massager_sdk.mqtt.config import BridgeConfig
from massager_sdk.mqtt.topics import OFFLINE

_log = logging.getLogger("massager_sdk.mqtt")

#: First pause before reconnecting to the broker; doubles up to ``reconnect_max_s``.
BROKER_FIRST_RETRY_S = 0.5
#: How long the bridge waits for the retained claims after subscribing.
SYNC_TIMEOUT_S = 5.0
KEEPALIVE_S = 30


class BrokerLink:
    """One broker connection, kept up until :meth:`run` is cancelled.

    ``on_session`` is called when a connection opens, before anything is
    subscribed; ``on_connected`` once the retained messages have arrived;
    ``on_message`` with every other message (topic, payload, retained).
    """

    def __init__(
        self,
        config: BridgeConfig,
        *,
        on_session: Callable[[], None],
        on_connected: Callable[[aiomqtt.Client], Awaitable[None]],
        on_message: Callable[[str, bytes, bool], None],
    ) -> None:
        self.config = config
        self.topics = config.topics
        self.connections = 0  #: successful broker connections so far
        self.connected = asyncio.Event()  #: set while connected and caught up
        #: Set once connected and the retained claims have been read (by ``on_connected``).
        self.synced = asyncio.Event()
        self._on_session = on_session
        self._on_connected = on_connected
        self._on_message = on_message
        self._client: aiomqtt.Client | None = None
        self._echoes: dict[str, asyncio.Event] = {}  #: token -> set when it came back
        self._collecting: list[tuple[str, dict[str, bytes]]] = []  #: (filter, retained seen)
        self._reader: asyncio.Task[None] | None = None
        self._subscriptions: set[str] = set()

    @property
    def sync_topic(self) -> str:
        """Where the bridge publishes the echoes it waits for."""
        return f"{self.topics.bridge_root}/sync"

    async def publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
        """Publish if connected; otherwise drop it (everything retained is sent again)."""
        client = self._client
        if client is None:
            return
        try:
            await client.publish(topic, payload, qos=1, retain=retain)
        except aiomqtt.MqttError as exc:
            _log.debug("not published on %s: %s", topic, exc)

    async def subscribe(self, topics: Iterable[str]) -> None:
        """Subscribe now and after every reconnection."""
        wanted = list(topics)
        self._subscriptions.update(wanted)
        await self._subscribe(wanted)

    async def resubscribe(self) -> None:
        """Subscribe again to everything :meth:`subscribe` was asked for."""
        await self._subscribe(sorted(self._subscriptions))

    async def unsubscribe(self, topics: Iterable[str]) -> None:
        """Forget subscriptions made with :meth:`subscribe`."""
        gone = [t for t in topics if t in self._subscriptions]
        self._subscriptions.difference_update(gone)
        client = self._client
        if client is None or not gone:
            return
        with contextlib.suppress(aiomqtt.MqttError):
            await client.unsubscribe(gone)

    async def _subscribe(self, topics: Sequence[str]) -> None:
        client = self._client
        if client is None or not topics:
            return
        try:
            await client.subscribe([(t, 1) for t in topics])
        except aiomqtt.MqttError as exc:
            _log.debug("subscription failed: %s", exc)

    async def caught_up(self) -> bool:
        """Wait until every message the broker sent so far has been handled (an echo of
        our own comes after them); ``False`` if it did not come back in time."""
        if self._client is None:
            return False
        token = secrets.token_hex(8)
        seen = self._echoes[token] = asyncio.Event()
        try:
            await self.publish(self.sync_topic, token)
            async with asyncio.timeout(SYNC_TIMEOUT_S):
                await seen.wait()
            return True
        except TimeoutError:
            return False
        finally:
            self._echoes.pop(token, None)

    async def read_retained(self, topic_filter: str) -> dict[str, bytes] | None:
        """What the broker retains on ``topic_filter`` now (``None``: could not tell)."""
        client = self._client
        if client is None:
            return None
        found: dict[str, bytes] = {}
        entry = (topic_filter, found)
        self._collecting.append(entry)
        try:
            await client.subscribe(topic_filter, qos=1)
            # Retained messages come before the answer to anything published after the
            # subscription: once our echo is back, everything retained has arrived.
            await self._echo(client)
            with contextlib.suppress(aiomqtt.MqttError):
                await client.unsubscribe(topic_filter)
        except aiomqtt.MqttError as exc:
            _log.debug("reading retained %s failed: %s", topic_filter, exc)
            return None
        finally:
            self._collecting.remove(entry)
        return found

    # ------------------------------------------------------------------

    def _client_for_attempt(self) -> aiomqtt.Client:
        broker = self.config.broker
        tls = aiomqtt.TLSParameters(ca_certs=broker.ca_file) if broker.tls else None
        return aiomqtt.Client(
            broker.host,
            broker.port,
            username=broker.username,
            password=broker.password,
            identifier=self.config.client_id,
            will=aiomqtt.Will(self.topics.bridge_state, OFFLINE, qos=1, retain=True),
            clean_session=True,
            keepalive=KEEPALIVE_S,
            tls_params=tls,
            # Small packets back to back (a PUBACK, then the state it led to): without
            # this, Nagle's algorithm holds the second until the broker's delayed ACK.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )

    async def run(self) -> None:
        """Connect, and connect again whenever the connection is lost (until cancelled)."""
        delay = BROKER_FIRST_RETRY_S
        broker = self.config.broker.url()
        while True:
            try:
                async with self._client_for_attempt() as client:
                    delay = BROKER_FIRST_RETRY_S
                    self.connections += 1
                    _log.info("connected to %s as %s", broker, self.config.client_id)
                    await self._session(client)
            except aiomqtt.MqttError as exc:
                _log.warning("broker %s: %s; reconnecting in %.1f s", broker, exc, delay)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.config.reconnect_max_s)

    async def _session(self, client: aiomqtt.Client) -> None:
        self._client = client
        self._on_session()
        reader = asyncio.get_running_loop().create_task(self._read(client))
        self._reader = reader
        try:
            await client.subscribe(
                [(t, 1) for t in [*self.topics.bridge_subscriptions(), self.sync_topic]]
            )
            await self._echo(client, reader)  # the retained claims have arrived
            await self._on_connected(client)
            self.connected.set()
            await reader
        finally:
            self._client = None
            self._reader = None
            self.synced.clear()
            self.connected.clear()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await reader

    async def _echo(self, client: aiomqtt.Client, reader: asyncio.Task[None] | None = None) -> None:
        """Wait for an echo of our own message: what the broker sent before has arrived."""
        reader = reader or self._reader
        token = secrets.token_hex(8)
        seen = self._echoes[token] = asyncio.Event()
        try:
            await client.publish(self.sync_topic, token, qos=1)
            waiter = asyncio.ensure_future(seen.wait())
            waiting: set[asyncio.Future[Any]] = {waiter}
            if reader is not None:
                waiting.add(reader)
            done, _ = await asyncio.wait(
                waiting, timeout=SYNC_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            if reader is not None and reader in done:
                reader.result()  # the connection dropped: raise its error
        finally:
            del self._echoes[token]

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            try:
                self._received(message)
            except Exception:  # one bad message must never stop the bridge
                _log.exception("handling a message on %s failed", message.topic.value)

    def _received(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = message.payload if isinstance(message.payload, bytes) else b""
        _log.debug("received %s (%d bytes%s)", topic, len(payload), ", retained" * message.retain)
        if topic == self.sync_topic:
            echo = self._echoes.get(payload.decode("ascii", "replace"))
            if echo is not None:
                echo.set()
            return
        for topic_filter, found in self._collecting:
            if message.topic.matches(topic_filter) and message.retain:
                found[topic] = payload
        self._on_message(topic, payload, message.retain)
