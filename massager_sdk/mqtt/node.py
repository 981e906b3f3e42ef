"""One device served over MQTT: claim it, connect, publish it, obey it, reconnect.

A node lives as long as its device is configured on the bridge. Its device
session and any program it runs do not depend on the broker: while the broker
is away the program plays on, and the bridge publishes the latest state again
when the broker is back.

The node runs the device's session; its parts do one job each: staking the
claim (:mod:`~massager_sdk.mqtt.node_claims`), publishing what is known of the
device (:mod:`~massager_sdk.mqtt.node_publish`) and taking its commands
(:mod:`~massager_sdk.mqtt.node_commands`), whose effect is the control layer's.
"""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.parse
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Literal

import massager_sdk
from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.client import Device
from massager_sdk.control import Controller
from massager_sdk.errors import BadURLError, MassagerError
from massager_sdk.model import DeviceEvent, DeviceStatus, EventKind
from massager_sdk.mqtt.claims import Claim
from massager_sdk.mqtt.commands import CommandContext
from massager_sdk.mqtt.config import DeviceConfig, url_id
from massager_sdk.mqtt.node_claims import ClaimStake
from massager_sdk.mqtt.node_commands import COMMAND_QUEUE, NodeCommands
from massager_sdk.mqtt.node_publish import StatePublisher
from massager_sdk.mqtt.tasks import Background, cancel_and_wait
from massager_sdk.mqtt.topics import OFFLINE

if TYPE_CHECKING:
    from massager_sdk.mqtt.bridge import Bridge

__all__ = [
    "COMMAND_QUEUE",
    "FIRST_RETRY_S",
    "DeviceNode",
    "cancel_and_wait",
    "id_before_connecting",
]

_log = logging.getLogger("massager_sdk.mqtt")

#: First pause before reconnecting a device; doubles up to the bridge's ``reconnect_max_s``.
FIRST_RETRY_S = 0.5
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")

Phase = Literal["starting", "connecting", "standby", "active", "lost", "failed", "removed"]


def id_before_connecting(config: DeviceConfig, id_prefix: str) -> str | None:
    """The device id when it is known without connecting: configured, or a BLE address.

    Such devices have their claim checked before the bridge opens a link to
    them; others are identified by their serial once connected.
    """
    if config.id is not None:
        return config.id
    parts = urllib.parse.urlsplit(config.url)
    if parts.scheme.lower() == "ble" and _MAC.match(urllib.parse.unquote(parts.netloc)):
        return url_id(config.url, id_prefix)
    return None


class DeviceNode:
    """The bridge's side of one device."""

    def __init__(self, bridge: Bridge, config: DeviceConfig, options: Mapping[str, Any]) -> None:
        self.bridge = bridge
        self.config = config
        self.options = dict(options)
        self.device_id: str | None = id_before_connecting(config, bridge.config.id_prefix)
        self.name: str | None = config.name
        self.caps: DeviceCapabilities | None = None
        self.ctx: CommandContext | None = None
        self.device: Device | None = None
        self.phase: Phase = "starting"
        self.error: str | None = None  #: why the last connection failed
        self.held = False  #: this bridge holds the claim and publishes the device
        self.link_up = False
        self.claim: Claim | None = None
        self.removed = False  #: the device left the bridge (or the bridge stops)
        #: The control layer over the connected device (``None`` between sessions).
        self.control: Controller | None = None
        self.task: asyncio.Task[None] | None = None
        self.stake = ClaimStake(self)
        self.publisher = StatePublisher(self)
        self.commands = NodeCommands(self)
        self._session_end = asyncio.Event()
        self._background = Background()

    # ------------------------------------------------------------------
    # lifecycle
    # ------------------------------------------------------------------

    def start(self) -> None:
        """Start serving the device in the background."""
        self.task = asyncio.get_running_loop().create_task(
            self.run(), name=f"massager-mqtt-{self.config.url}"
        )

    async def run(self) -> None:
        """Claim, connect, serve; reconnect with backoff when the device is lost."""
        delay = FIRST_RETRY_S
        while not self.removed:
            staked = self.device_id
            if staked is not None:
                await self.stake.listen()
                await self.stake.wait_until_free(staked)
                if self.removed:
                    return
                if not await self.stake.stake(staked):
                    continue
            self.phase = "connecting"
            taken = False
            try:
                async with massager_sdk.connect(self.config.url, **self.options) as device:
                    taken = await self._serve(device)
            except (BadURLError, TypeError) as exc:
                # A URL or option no retry can fix.
                self.phase = "failed"
                self.error = str(exc)
                _log.error("device %s: %s", self.config.url, exc)
                await self.bridge.report_error(f"device {self.config.url}: {exc}")
                return
            except (MassagerError, OSError, ValueError) as exc:
                self.error = str(exc) or type(exc).__name__
                _log.warning("device %s: %s; retrying in %.1f s", self.config.url, exc, delay)
                if staked is not None and not self.held:
                    # Out of reach from here: leave the device to a bridge that reaches it.
                    await self.stake.unstake(staked)
            finally:
                await self._detach()
            if self.removed:
                return
            self.phase = "lost" if self.held else "connecting"
            if taken:
                delay = FIRST_RETRY_S  # it worked until now: try again soon
            else:
                # Backoff counts from the last time the device was served, not the last
                # link: a device that connects but cannot be taken must not spin.
                await self.bridge.report_error(
                    f"device {self.config.url}: {self.error or 'not taken'}; "
                    f"retrying in {delay:.1f} s",
                    device=self.config.url,
                    id=self.device_id,
                    retry_in_s=round(delay, 1),
                )
            await asyncio.sleep(delay)
            if not taken:
                delay = min(delay * 2, self.bridge.config.reconnect_max_s)

    def claims_changed(self) -> None:
        """A claim or a bridge's state changed: a standing-by node looks again."""
        self.stake.changed()

    async def _serve(self, device: Device) -> bool:
        """Serve ``device`` until the session ends; whether it was taken at all."""
        caps = device.info
        if self.device_id is None:
            device_id = self.bridge.config.device_id(self.config, caps.serial)
            # From now on the id is known before connecting, and checked first.
            self.device_id = device_id
            await self.stake.listen()
            await self.bridge.claims_synced()
            reason = self.bridge.conflict(self, device_id)
            if reason is not None:
                _log.error("device %s (%s): %s; not taken", device_id, self.config.url, reason)
                self.error = reason
                return False
        assert self.device_id is not None
        self.device = device
        self.caps = caps
        self.ctx = CommandContext.from_capabilities(caps, self.bridge.programs)
        self.publisher.session_started(device)
        self.name = self.config.name or f"{caps.model} {self.device_id}"
        self.error = None
        self._session_end.clear()
        self.control = control = Controller(
            device,
            programs=self.bridge.program,
            on_change=self.publisher.changed,
            on_program_error=self.commands.program_error,
        )
        self.link_up = device.connected
        unsubscribe = [
            device.on_status(self._on_status),
            device.on_event(self._on_event),
            control.close,
        ]
        self.commands.open()
        self.bridge.heap.changed()
        try:
            await self._take()
            await self._session_end.wait()
            return True
        finally:
            self.bridge.heap.changed(gone=True)
            for undo in unsubscribe:
                undo()
            await self.commands.close()
            await control.cancel()
            self.commands.drain()
            self.device = None
            self.control = None
            self.link_up = False

    async def _take(self) -> None:
        """Claim the device and publish everything about it."""
        assert self.device_id is not None
        self.claim = self.stake.claim(self.device_id)
        self.held = True
        self.phase = "active"
        self.bridge.holding(self)
        await self.bridge.subscribe(self.bridge.topics.device_subscriptions(self.device_id))
        await self.publish_all()

    async def _detach(self) -> None:
        """The session is over: tell whoever listens, unless the device is not ours."""
        self.device = None
        if self.held and not self.removed and self.device_id is not None:
            self.link_up = False
            await self.publisher.publish_availability()
            await self.publisher.publish_state(force=True)

    def release(self, reason: str) -> None:
        """Let the device go: another bridge's claim wins. Publishes nothing more."""
        if not self.held:
            return
        _log.warning("device %s released: %s", self.device_id, reason)
        self.held = False
        self.error = reason
        self.bridge.not_holding(self)
        self._session_end.set()

    async def _end(self) -> None:
        """End the run task, whatever it is waiting for."""
        self.removed = True
        self._session_end.set()
        self.stake.changed()
        if self.task is not None:
            await cancel_and_wait(self.task)

    async def remove(self) -> None:
        """Stop serving the device and clear everything published about it."""
        self.phase = "removed"
        was_held, device_id = self.held, self.device_id
        self.held = False
        await self._end()
        self._background.cancel()
        self.publisher.close()
        if device_id is None:
            return
        self.bridge.not_holding(self)
        topics = self.bridge.topics
        if self.stake.subscribed is not None:
            await self.bridge.unsubscribe(topics.device_subscriptions(self.stake.subscribed))
        if was_held:
            # Discovery first: Home Assistant drops the entities before their state topic
            # empties, so no template ever renders an empty payload.
            clear = [
                topics.device_discovery(device_id),
                topics.state(device_id),
                topics.availability(device_id),
                topics.claim(device_id),
            ]
            for topic in clear:
                await self.bridge.publish(topic, b"", retain=True)

    async def shutdown(self) -> None:
        """The bridge stops: stop the device and say it is offline."""
        await self._end()
        if self.held and self.device_id is not None:
            await self.bridge.publish(
                self.bridge.topics.availability(self.device_id), OFFLINE, retain=True
            )

    # ------------------------------------------------------------------
    # what the bridge calls
    # ------------------------------------------------------------------

    async def publish_all(self) -> None:
        """Claim, discovery, availability and state (after a (re)connect or a contest)."""
        await self.publisher.publish_all()

    async def publish_discovery(self) -> None:
        """Home Assistant discovery of the device (see :class:`StatePublisher`)."""
        await self.publisher.publish_discovery()

    def state(self) -> dict[str, Any] | None:
        """The state document now (``None`` before the device was first reached)."""
        return self.publisher.document(with_safety=True)

    async def publish_error(
        self, error: str, topic: str, payload: bytes, *, kind: str = "invalid_command", **extra: Any
    ) -> None:
        """Publish a refusal on the device's error topic, with what was sent.

        ``kind`` (one of ``discovery.REFUSAL_KINDS``) is the ``event_type`` the
        refusal event shows; the text also becomes the state's ``last_refusal``.
        """
        await self.publisher.publish_error(error, topic, payload, kind=kind, **extra)

    def submit(self, attr: str | None, payload: bytes, topic: str) -> None:
        """A message on one of the device's set topics (called by the bridge)."""
        self.commands.submit(attr, payload, topic)

    def describe(self) -> dict[str, Any]:
        """The device as the bridge's ``devices`` response lists it."""
        caps = self.caps
        return {
            "id": self.device_id,
            "name": self.name,
            "url": self.config.url,
            "model": caps.model if caps else None,
            "serial": caps.serial if caps else None,
            "firmware": caps.firmware if caps else None,
            "phase": self.phase,
            "online": self.held and self.link_up,
            "error": self.error,
        }

    # ------------------------------------------------------------------
    # the device's reports
    # ------------------------------------------------------------------

    def _on_status(self, status: DeviceStatus) -> None:
        if self.publisher.note_reported(status):
            self.spawn(self.publisher.publish_discovery())  # a sensor it did not have before
        self.publisher.changed()

    def _on_event(self, event: DeviceEvent) -> None:
        if event.kind is EventKind.LINK_LOST:
            if event.active is None:  # the client gave up: the session is over
                self._session_end.set()
                return
            self.link_up = event.active is False
            self.spawn(self.publisher.publish_availability())
        elif event.kind is EventKind.LINK_RESTORED:
            self.link_up = True
            self.spawn(self.publisher.publish_availability())
        self.publisher.changed()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background; cancelled when the node is removed."""
        return self._background.spawn(coro)
