"""The MQTT bridge: many devices, one broker connection, Home Assistant discovery.

    config = load_config("bridge.toml")
    async with Bridge(config) as bridge:      # connects, serves, reconnects
        await bridge.add_device(DeviceConfig("sim://neck2", id="desk"))
        await asyncio.Event().wait()

The broker connection reconnects with exponential backoff; after every
(re)connection the bridge subscribes again, reads the claims, says ``offline``
for every device it serves or held (a crashed run left them ``online``), then
``online`` on its own state topic (whose last will is ``offline``), and
publishes discovery, availability and state of every device it holds: a
device says ``online`` again only once it is taken. Devices are served by
:class:`~massager_sdk.mqtt.node.DeviceNode` tasks that do not depend on the
broker: a program plays on while the broker is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import secrets
import socket
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import aiomqtt

from massager_sdk.mqtt.claims import ClaimBook
from massager_sdk.mqtt.config import (
    BridgeConfig,
    DeviceConfig,
    check_device_url,
    load_user_programs,
)
from massager_sdk.mqtt.node import DeviceNode, cancel_and_wait
from massager_sdk.mqtt.topics import (
    HA_ONLINE,
    OFFLINE,
    ONLINE,
    REQUESTS,
    check_id,
)
from massager_sdk.programs import Program

_log = logging.getLogger("massager_sdk.mqtt")

#: First pause before reconnecting to the broker; doubles up to ``reconnect_max_s``.
BROKER_FIRST_RETRY_S = 0.5
#: After winning a contested claim, publish everything again this much later, when the
#: loser has surely seen the winning claim and stopped publishing.
CONTEST_SETTLE_S = 1.0
#: How long the bridge waits for the retained claims after subscribing.
SYNC_TIMEOUT_S = 5.0
KEEPALIVE_S = 30


class Bridge:
    """Serves devices over MQTT. Use ``async with`` or :meth:`start` / :meth:`stop`.

    ``programs`` are the programs offered (default: every built-in). Devices
    come from ``config.devices`` and from :meth:`add_device` (which also takes
    connection options, such as ``simulator=`` for ``sim://``).
    """

    def __init__(
        self,
        config: BridgeConfig,
        *,
        programs: Sequence[str] | None = None,
        device_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = config
        #: Options every device is connected with (e.g. the safety ``profile=``).
        self.device_options: Mapping[str, Any] = dict(device_options or {})
        self.topics = config.topics
        #: How claims name this bridge.
        self.owner = config.bridge_id or config.client_id
        #: User programs from ``config.programs_dir``, validated now (``ConfigError``).
        self.user_programs: dict[str, Program] = (
            load_user_programs(config.programs_dir) if config.programs_dir else {}
        )
        if programs is None:
            from massager_sdk.programs import builtin_names

            programs = [*builtin_names(), *self.user_programs]
        self.programs: tuple[str, ...] = tuple(programs)
        self.claims = ClaimBook()
        self.nodes: list[DeviceNode] = []
        self.connections = 0  #: successful broker connections so far
        self.connected = asyncio.Event()  #: set while connected and caught up
        self._held: dict[str, DeviceNode] = {}
        self._client: aiomqtt.Client | None = None
        self._synced = asyncio.Event()
        self._echoes: dict[str, asyncio.Event] = {}  #: token -> set when it came back
        self._collecting: list[tuple[str, dict[str, bytes]]] = []  #: (filter, retained seen)
        self._reader: asyncio.Task[None] | None = None
        self._device_subs: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------
    # running
    # ------------------------------------------------------------------

    async def __aenter__(self) -> Bridge:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def start(self) -> None:
        """Start the devices of the configuration and the broker connection."""
        if self._task is not None:
            raise RuntimeError("this bridge is already started")
        for device in self.config.devices:
            self._add_node(device, {})
        self._task = asyncio.get_running_loop().create_task(
            self._broker_loop(), name="massager-mqtt-broker"
        )

    async def stop(self) -> None:
        """Stop every device, say ``offline`` (devices and bridge), then disconnect."""
        if self._stopping:
            return
        self._stopping = True
        await asyncio.gather(*(node.shutdown() for node in self.nodes), return_exceptions=True)
        await self.publish(self.topics.bridge_state, OFFLINE, retain=True)
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        for job in list(self._tasks):
            job.cancel()

    async def wait_stopped(self) -> None:
        """Wait until the broker loop ends (it ends only on :meth:`stop`)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def add_device(self, device: DeviceConfig, **options: Any) -> DeviceNode:
        """Serve one more device; ``options`` go to :func:`massager_sdk.connect`."""
        check_device_url(device.url)
        if device.id is not None:
            check_id(device.id, "device id")
            if any(n.device_id == device.id for n in self.nodes):
                raise ValueError(f"device id {device.id!r} is already on this bridge")
        return self._add_node(device, options)

    async def remove_device(self, device_id: str) -> None:
        """Stop serving ``device_id`` and clear its discovery, state and claim."""
        node = next((n for n in self.nodes if n.device_id == device_id), None)
        if node is None:
            known = ", ".join(str(n.device_id) for n in self.nodes if n.device_id) or "none"
            raise KeyError(f"no device {device_id!r} on this bridge; devices: {known}")
        self.nodes.remove(node)
        await node.remove()

    def _configured(self, url: str, device_id: str | None, name: str | None) -> DeviceConfig:
        """The entry to add for an ``add`` request: the configuration file's own entry for
        that device (its profile, limits and key stay with it across remove and add),
        else a new one."""
        for entry in self.config.devices:
            if entry.url == url and (device_id is None or entry.id in (None, device_id)):
                return dataclasses.replace(entry, id=device_id or entry.id, name=name or entry.name)
        return DeviceConfig(url=url, id=device_id, name=name)

    def program(self, name: str) -> Program:
        """The program offered as ``name``: a user program, else the built-in one."""
        if name in self.user_programs:
            return self.user_programs[name]
        from massager_sdk.programs import load_program

        return load_program(name)

    def node(self, device_id: str) -> DeviceNode:
        """The node of ``device_id``; ``KeyError`` if this bridge has none."""
        for node in self.nodes:
            if node.device_id == device_id:
                return node
        raise KeyError(device_id)

    def _add_node(self, device: DeviceConfig, options: Mapping[str, Any]) -> DeviceNode:
        # The entry's own profile and limits replace the bridge-wide ones.
        merged = {**self.device_options, **device.connect_options(), **options}
        node = DeviceNode(self, device, merged)
        self.nodes.append(node)
        node.start()
        return node

    # ------------------------------------------------------------------
    # what nodes call
    # ------------------------------------------------------------------

    async def claims_synced(self) -> None:
        """Wait until connected and the retained claims have been read."""
        await self._synced.wait()

    async def caught_up(self) -> bool:
        """Wait until every message the broker sent so far has been handled (an echo of
        our own comes after them); ``False`` if it did not come back in time."""
        if self._client is None:
            return False
        token = secrets.token_hex(8)
        seen = self._echoes[token] = asyncio.Event()
        try:
            await self.publish(self._sync_topic, token)
            async with asyncio.timeout(SYNC_TIMEOUT_S):
                await seen.wait()
            return True
        except TimeoutError:
            return False
        finally:
            self._echoes.pop(token, None)

    def conflict(self, node: DeviceNode, device_id: str) -> str | None:
        """Why ``node`` may not take ``device_id`` now, or ``None`` if it may."""
        other = self._held.get(device_id)
        if other is not None and other is not node:
            return f"device id {device_id!r} is already used by {other.config.url} on this bridge"
        claim = self.claims.may_take(device_id, self.owner)
        if claim is not None:
            return f"held by bridge {claim.owner!r}, which is online"
        return None

    def holding(self, node: DeviceNode) -> None:
        """``node`` holds its device now."""
        assert node.device_id is not None
        self._held[node.device_id] = node

    def not_holding(self, node: DeviceNode) -> None:
        """``node`` let its device go."""
        if node.device_id is not None and self._held.get(node.device_id) is node:
            del self._held[node.device_id]

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
        self._device_subs.update(wanted)
        await self._subscribe(wanted)

    async def unsubscribe(self, topics: Iterable[str]) -> None:
        """Forget subscriptions made with :meth:`subscribe`."""
        gone = [t for t in topics if t in self._device_subs]
        self._device_subs.difference_update(gone)
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

    async def report_error(self, message: str, **extra: Any) -> None:
        """Publish a bridge-wide problem on the bridge's error topic."""
        await self.publish(self.topics.bridge_error, json.dumps({"error": message, **extra}))

    # ------------------------------------------------------------------
    # the broker connection
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

    async def _broker_loop(self) -> None:
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
        # Claims cleared while we were away are not sent again: start from what is retained.
        self.claims = ClaimBook()
        reader = asyncio.get_running_loop().create_task(self._read(client))
        self._reader = reader
        try:
            await client.subscribe(
                [(t, 1) for t in [*self.topics.bridge_subscriptions(), self._sync_topic]]
            )
            await self._sync(client, reader)
            # Availability is true at every moment: a crashed bridge left its devices
            # "online"; they say "offline" before this bridge says "online", and each
            # says "online" again only once its node has taken it.
            for device_id in self._possibly_ours():
                await client.publish(
                    self.topics.availability(device_id), OFFLINE, qos=1, retain=True
                )
            await client.publish(self.topics.bridge_state, ONLINE, qos=1, retain=True)
            self._synced.set()
            for node in self.nodes:
                node.claims_changed()
            await self._subscribe(sorted(self._device_subs))
            # The broker may have lost everything retained: publish it all again.
            for node in list(self._held.values()):
                await node.publish_all()
            self.connected.set()
            await reader
        finally:
            self._client = None
            self._reader = None
            self._synced.clear()
            self.connected.clear()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await reader

    @property
    def _sync_topic(self) -> str:
        return f"{self.topics.bridge_root}/sync"

    def _possibly_ours(self) -> list[str]:
        """Ids of devices this bridge serves or served before (its retained claims).

        Not those another live bridge holds: their availability is that bridge's word.
        """
        ids = {n.device_id for n in self.nodes if n.device_id is not None}
        ids.update(d for d, claim in self.claims.claims.items() if claim.owner == self.owner)
        return sorted(d for d in ids if self.claims.may_take(d, self.owner) is None)

    async def _sync(self, client: aiomqtt.Client, reader: asyncio.Task[None]) -> None:
        """Wait until the retained claims have arrived."""
        await self._echo(client, reader)

    async def _echo(self, client: aiomqtt.Client, reader: asyncio.Task[None] | None = None) -> None:
        """Wait for an echo of our own message: what the broker sent before has arrived."""
        reader = reader or self._reader
        token = secrets.token_hex(8)
        seen = self._echoes[token] = asyncio.Event()
        try:
            await client.publish(self._sync_topic, token, qos=1)
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
                self._dispatch(message)
            except Exception:  # one bad message must never stop the bridge
                _log.exception("handling a message on %s failed", message.topic.value)

    def _dispatch(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = message.payload if isinstance(message.payload, bytes) else b""
        _log.debug("received %s (%d bytes%s)", topic, len(payload), ", retained" * message.retain)
        if topic == self._sync_topic:
            echo = self._echoes.get(payload.decode("ascii", "replace"))
            if echo is not None:
                echo.set()
            return
        for topic_filter, found in self._collecting:
            if message.topic.matches(topic_filter) and message.retain:
                found[topic] = payload
        incoming = self.topics.parse(topic)
        if incoming is None:
            return
        kind = incoming.kind
        if kind in ("set", "set_attr"):
            device_id = incoming.device_id or ""
            node = self._held.get(device_id)
            held = node is not None
            if node is None:
                node = self._answers_for(device_id)
                if node is None:
                    return
            if message.retain:
                # A retained command would run again on every reconnection.
                self._spawn(
                    node.publish_error(
                        "retained commands are ignored; publish commands without the retain flag",
                        topic,
                        payload,
                    )
                )
                return
            if not held:
                why = node.error or node.phase
                self._spawn(
                    node.publish_error(
                        f"device {device_id} is not available ({why}); the command was not run",
                        topic,
                        payload,
                        kind="unavailable",
                    )
                )
                return
            node.submit(incoming.attr, payload, topic)
        elif kind == "claim":
            assert incoming.device_id is not None
            self._claim_seen(incoming.device_id, payload)
        elif kind == "bridge_state":
            self.claims.seen_bridge_state(topic, payload)
            for node in self.nodes:
                node.claims_changed()
        elif kind == "ha_status":
            if payload.strip().decode("utf-8", "replace") == HA_ONLINE:
                self._spawn(self._home_assistant_started())
        elif kind == "request" and not message.retain:
            assert incoming.attr is not None
            self._spawn(self._request(incoming.attr, payload, topic))

    def _answers_for(self, device_id: str) -> DeviceNode | None:
        """The node that answers commands to ``device_id``, which this bridge does not hold.

        ``None`` when the device is not this bridge's, or another live bridge holds
        it (that bridge answers).
        """
        node = next((n for n in self.nodes if n.device_id == device_id), None)
        if node is None or self.claims.may_take(device_id, self.owner) is not None:
            return None
        return node

    def _claim_seen(self, device_id: str, payload: bytes) -> None:
        claim = self.claims.seen_claim(device_id, payload)
        node = self._held.get(device_id)
        if node is not None and node.claim is not None:
            if claim is None:
                # Our claim was cleared by someone else: put it back.
                self._spawn(
                    self.publish(self.topics.claim(device_id), node.claim.payload(), retain=True)
                )
            elif claim.owner != self.owner:
                if self.claims.keeps(device_id, node.claim):
                    self._spawn(self._reassert(node))
                else:
                    node.release(f"bridge {claim.owner!r} holds an older claim")
        for each in self.nodes:
            each.claims_changed()

    async def _reassert(self, node: DeviceNode) -> None:
        """We won a contested claim: publish everything again once the loser has stopped."""
        if node.claim is not None and node.device_id is not None:
            await self.publish(self.topics.claim(node.device_id), node.claim.payload(), retain=True)
        await asyncio.sleep(CONTEST_SETTLE_S)
        await node.publish_all()

    async def _home_assistant_started(self) -> None:
        """Home Assistant (re)started: it wants discovery and state again."""
        for node in list(self._held.values()):
            await node.publish_all()

    # ------------------------------------------------------------------
    # bridge requests
    # ------------------------------------------------------------------

    async def _request(self, name: str, payload: bytes, topic: str) -> None:
        broadcast = self.config.bridge_id is not None and not topic.startswith(
            f"{self.topics.bridge_root}/"
        )
        body: dict[str, Any] = {}
        transaction = None
        try:
            if len(payload) > self.config.max_payload:
                raise ValueError(
                    f"request of {len(payload)} bytes is too large (at most "
                    f"{self.config.max_payload} bytes)"
                )
            if payload.strip():
                try:
                    parsed = json.loads(payload)
                except ValueError:
                    raise ValueError(
                        'a request is a JSON object, e.g. {"transaction": "1"}, or empty'
                    ) from None
                if not isinstance(parsed, dict):
                    raise ValueError('a request is a JSON object, e.g. {"transaction": "1"}')
                body = parsed
                transaction = body.pop("transaction", None)
            if name == "devices":
                _no_fields(body, name, set())
                data: Any = [node.describe() for node in self.nodes]
            elif name == "add":
                if broadcast:
                    return  # adding is for one bridge: its own request topic
                _no_fields(body, name, {"url", "id", "name"})
                url = body.get("url")
                if not isinstance(url, str):
                    raise ValueError('add needs "url": a device URL such as "ble://AA:BB:..."')
                device_id, dname = body.get("id"), body.get("name")
                if device_id is not None and not isinstance(device_id, str):
                    raise ValueError('"id" must be a string')
                if dname is not None and (not isinstance(dname, str) or not dname.strip()):
                    raise ValueError('"name" must be a non-empty string')
                node = await self.add_device(self._configured(url, device_id, dname))
                data = node.describe()
            elif name == "remove":
                _no_fields(body, name, {"id"})
                device_id = body.get("id")
                if not isinstance(device_id, str):
                    raise ValueError('remove needs "id": the id of a device on this bridge')
                if broadcast and not any(n.device_id == device_id for n in self.nodes):
                    return  # another bridge's device
                try:
                    await self.remove_device(device_id)
                except KeyError as exc:
                    raise ValueError(exc.args[0]) from None
                data = {"id": device_id}
            else:
                raise ValueError(f"unknown request {name!r}; accepted: {', '.join(REQUESTS)}")
        except ValueError as exc:
            response = {"status": "error", "error": str(exc), "bridge": self.owner}
            if transaction is not None:
                response["transaction"] = transaction
            await self.publish(self.topics.response(name), json.dumps(response))
            await self.report_error(str(exc), request=name)
            return
        response = {"status": "ok", "data": data, "bridge": self.owner}
        if transaction is not None:
            response["transaction"] = transaction
        await self.publish(self.topics.response(name), json.dumps(response))

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _no_fields(body: Mapping[str, Any], request: str, accepted: set[str]) -> None:
    unknown = sorted(set(body) - accepted)
    if unknown:
        allowed = ", ".join(sorted(accepted | {"transaction"}))
        raise ValueError(f"{request}: unknown field(s) {', '.join(unknown)}; accepted: {allowed}")
