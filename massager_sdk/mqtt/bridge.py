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

The bridge's parts do one job each: the broker connection
(:mod:`~massager_sdk.mqtt.broker_link`), the devices held and the claims
(:mod:`~massager_sdk.mqtt.supervision`) and the request/reply topics
(:mod:`~massager_sdk.mqtt.bridge_requests`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from massager_sdk.mqtt.bridge_requests import BridgeRequests
from massager_sdk.mqtt.broker_link import (
    BROKER_FIRST_RETRY_S,
    KEEPALIVE_S,
    SYNC_TIMEOUT_S,
    BrokerLink,
)
from massager_sdk.mqtt.claims import ClaimBook
from massager_sdk.mqtt.config import (
    BridgeConfig,
    DeviceConfig,
    check_device_url,
    load_user_programs,
)
from massager_sdk.mqtt.heap import HeapKeeper
from massager_sdk.mqtt.node import DeviceNode
from massager_sdk.mqtt.node_claims import CONTEST_SETTLE_S
from massager_sdk.mqtt.supervision import Supervisor
from massager_sdk.mqtt.tasks import Background, cancel_and_wait
from massager_sdk.mqtt.topics import HA_ONLINE, OFFLINE, check_id
from massager_sdk.programs import Program

__all__ = [
    "BROKER_FIRST_RETRY_S",
    "CONTEST_SETTLE_S",
    "KEEPALIVE_S",
    "SYNC_TIMEOUT_S",
    "Bridge",
]


class Bridge:
    """Serves devices over MQTT. Use ``async with`` or :meth:`start` / :meth:`stop`.

    ``programs`` are the programs offered (default: every built-in). Devices
    come from ``config.devices`` and from :meth:`add_device` (which also takes
    connection options, such as ``simulator=`` for ``sim://``). Once its devices
    have settled the bridge freezes the process's heap (:mod:`~massager_sdk.mqtt.heap`);
    ``freeze_heap=False`` leaves the cycle collector alone, for a host program
    that tunes it itself.
    """

    def __init__(
        self,
        config: BridgeConfig,
        *,
        programs: Sequence[str] | None = None,
        device_options: Mapping[str, Any] | None = None,
        freeze_heap: bool = True,
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
        self.supervisor = Supervisor(self)
        self.requests = BridgeRequests(self)
        self.link = BrokerLink(
            config,
            on_session=self._session_began,
            on_connected=self.supervisor.connected,
            on_message=self._dispatch,
        )
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._background = Background()
        #: Keeps the cycle collector's pauses short once the devices have settled.
        self.heap = HeapKeeper(enabled=freeze_heap)

    @property
    def connections(self) -> int:
        """Successful broker connections so far."""
        return self.link.connections

    @property
    def connected(self) -> asyncio.Event:
        """Set while connected to the broker and caught up with it."""
        return self.link.connected

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
        self.heap.start()
        for device in self.config.devices:
            self._add_node(device, {})
        self._task = asyncio.get_running_loop().create_task(
            self.link.run(), name="massager-mqtt-broker"
        )

    async def stop(self) -> None:
        """Stop every device, say ``offline`` (devices and bridge), then disconnect."""
        if self._stopping:
            return
        self._stopping = True
        await asyncio.gather(*(node.shutdown() for node in self.nodes), return_exceptions=True)
        await self.publish(self.topics.bridge_state, OFFLINE, retain=True)
        self.heap.close()
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        self._background.cancel()

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
        await self.link.synced.wait()

    async def caught_up(self) -> bool:
        """Wait until every message the broker sent so far has been handled (an echo of
        our own comes after them); ``False`` if it did not come back in time."""
        return await self.link.caught_up()

    def conflict(self, node: DeviceNode, device_id: str) -> str | None:
        """Why ``node`` may not take ``device_id`` now, or ``None`` if it may."""
        return self.supervisor.conflict(node, device_id)

    def holding(self, node: DeviceNode) -> None:
        """``node`` holds its device now."""
        self.supervisor.holding(node)

    def not_holding(self, node: DeviceNode) -> None:
        """``node`` let its device go."""
        self.supervisor.not_holding(node)

    async def publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
        """Publish if connected; otherwise drop it (everything retained is sent again)."""
        await self.link.publish(topic, payload, retain=retain)

    async def subscribe(self, topics: Iterable[str]) -> None:
        """Subscribe now and after every reconnection."""
        await self.link.subscribe(topics)

    async def unsubscribe(self, topics: Iterable[str]) -> None:
        """Forget subscriptions made with :meth:`subscribe`."""
        await self.link.unsubscribe(topics)

    async def read_retained(self, topic_filter: str) -> dict[str, bytes] | None:
        """What the broker retains on ``topic_filter`` now (``None``: could not tell)."""
        return await self.link.read_retained(topic_filter)

    async def report_error(self, message: str, **extra: Any) -> None:
        """Publish a bridge-wide problem on the bridge's error topic."""
        await self.publish(self.topics.bridge_error, json.dumps({"error": message, **extra}))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background; cancelled when the bridge stops."""
        return self._background.spawn(coro)

    # ------------------------------------------------------------------
    # what the broker sends
    # ------------------------------------------------------------------

    def _session_began(self) -> None:
        # Claims cleared while we were away are not sent again: start from what is retained.
        self.claims = ClaimBook()

    def _dispatch(self, topic: str, payload: bytes, retain: bool) -> None:
        incoming = self.topics.parse(topic)
        if incoming is None:
            return
        kind = incoming.kind
        if kind in ("set", "set_attr"):
            self.supervisor.command(
                incoming.device_id or "", incoming.attr, payload, topic, retain=retain
            )
        elif kind == "claim":
            assert incoming.device_id is not None
            self.supervisor.claim_seen(incoming.device_id, payload)
        elif kind == "bridge_state":
            self.supervisor.bridge_state_seen(topic, payload)
        elif kind == "ha_status":
            if payload.strip().decode("utf-8", "replace") == HA_ONLINE:
                # Home Assistant (re)started: it wants discovery and state again.
                self.spawn(self.supervisor.publish_held())
        elif kind == "request" and not retain:
            assert incoming.attr is not None
            self.spawn(self.requests.handle(incoming.attr, payload, topic))
