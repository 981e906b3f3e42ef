"""What a node publishes about its device: discovery, availability, state and refusals.

The state is published at once when a fast field changes (outputs, program,
link) and at the telemetry pace when only slow fields did (battery,
temperature, remaining time, the safety snapshot). Each device refreshes its
slow fields at its own phase of the telemetry period, derived from its id: a
thousand devices switched on together then spread their refreshes over the
period instead of all refreshing in the same instant, which would hold up
any command that arrives during that burst.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from typing import TYPE_CHECKING, Any

import massager_sdk
from massager_sdk.control import DeviceState
from massager_sdk.model import DeviceStatus
from massager_sdk.mqtt.discovery import device_discovery, legacy_filter
from massager_sdk.mqtt.state import fast_view, refusal_line, safety_fields
from massager_sdk.mqtt.topics import OFFLINE, ONLINE

if TYPE_CHECKING:
    from massager_sdk.client import Device
    from massager_sdk.mqtt.node import DeviceNode


def refresh_phase(device_id: str) -> float:
    """Where in each telemetry period ``device_id`` refreshes its slow fields, in [0, 1).

    A hash of the id, so it is the same on every run and every bridge, and
    spread evenly over the period across a fleet whatever its ids look like.
    """
    digest = hashlib.blake2b(device_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def slow_refresh_at(last_full_at: float, interval: float, phase: float) -> float:
    """When slow fields that changed since ``last_full_at`` are published.

    The moment of the device's ``phase`` nearest to one ``interval`` after the
    last full publication: a steady device refreshes exactly every
    ``interval`` on its phase (a refresh that ran a little late does not push
    the next one a whole period away), and after a publication off the phase
    (a fast change) the next refresh comes back onto it, between half an
    interval and one and a half after. Before any publication it is due at once.
    """
    if not math.isfinite(last_full_at):
        return last_full_at
    offset = phase * interval
    return round((last_full_at + interval - offset) / interval) * interval + offset


class StatePublisher:
    """Publishes one node's retained topics and its refusals."""

    def __init__(self, node: DeviceNode) -> None:
        self.node = node
        self.bridge = node.bridge
        #: What of ``discovery.REPORTED`` the device has reported: only those get entities.
        self.reported: set[str] = set()
        #: Discovery offers only what this device's safety policy accepts.
        self.intensity_max: int | None = None
        self.heat_presets: tuple[float, ...] | None = None
        self.last_refusal: str | None = None
        self._dirty = False
        self._state_task: asyncio.Task[None] | None = None
        self._settling = False  #: a decision whether to publish is scheduled
        self._slow_handle: asyncio.TimerHandle | None = None
        self._last_fast: tuple[Any, ...] | None = None
        self._last_text: str | None = None
        self._last_full_at = -math.inf
        self._legacy_checked = False  #: per-entity configs of older bridges were looked for
        self._discovery_lock = asyncio.Lock()  #: one discovery (and migration) at a time

    def session_started(self, device: Device) -> None:
        """A session with ``device`` began: note its limits and what it reports."""
        self.intensity_max = device.safety.intensity_max()
        self.heat_presets = device.safety.heat_presets()
        self.note_reported(device.last_status)

    def close(self) -> None:
        """No more timed refreshes (the node is removed)."""
        if self._slow_handle is not None:
            self._slow_handle.cancel()
            self._slow_handle = None

    async def publish_all(self) -> None:
        """Claim, discovery, availability and state (after a (re)connect or a contest)."""
        node = self.node
        if not node.held or node.device_id is None or node.claim is None:
            return
        topics = self.bridge.topics
        await self.bridge.publish(topics.claim(node.device_id), node.claim.payload(), retain=True)
        await self.publish_discovery()
        await self.publish_availability()
        await self.publish_state(force=True)

    async def publish_discovery(self) -> None:
        """Home Assistant discovery: the device and its components, in one message.

        The first time, per-entity configs that an older bridge left are migrated:
        ``migrate_discovery`` on each unloads its entity but keeps it (and the
        user's settings of it), the old config is cleared, then the device config
        takes the entity over by its unique id. (Clearing the old topic after the
        device config would reach the new entity as a conflicting message.)
        """
        async with self._discovery_lock:
            await self._publish_discovery()

    async def _publish_discovery(self) -> None:
        node = self.node
        if not (node.held and self.bridge.config.discovery) or node.caps is None:
            return
        assert node.device_id is not None and node.name is not None
        topics = self.bridge.topics
        legacy: list[str] = []
        if not self._legacy_checked:
            found = await self.bridge.read_retained(legacy_filter(topics, node.device_id))
            if found is None:
                return  # not connected: discovery is published again on connecting
            legacy = sorted(topic for topic, payload in found.items() if payload)
            self._legacy_checked = True
            for topic in legacy:
                await self.bridge.publish(
                    topic, json.dumps({"migrate_discovery": True}), retain=True
                )
            for old in legacy:
                await self.bridge.publish(old, b"", retain=True)
        topic, payload = device_discovery(
            topics,
            node.device_id,
            node.name,
            node.caps,
            self.bridge.programs,
            sw_version=massager_sdk.__version__,
            intensity_max=self.intensity_max,
            heat_presets=self.heat_presets,
            reported=self.reported,
        )
        await self.bridge.publish(topic, json.dumps(payload), retain=True)

    def note_reported(self, status: DeviceStatus | None) -> bool:
        """Remember what ``status`` reports; whether that is something new."""
        if status is None:
            return False
        seen = {
            name
            for name, value in (
                ("battery", status.battery_pct),
                ("temperature", status.temperature_c),
            )
            if value is not None
        }
        new = seen - self.reported
        self.reported |= new
        return bool(new)

    async def publish_availability(self) -> None:
        """``online`` or ``offline``, as the device's link is (only while held)."""
        node = self.node
        if node.held and node.device_id is not None:
            await self.bridge.publish(
                self.bridge.topics.availability(node.device_id),
                ONLINE if node.link_up else OFFLINE,
                retain=True,
            )

    def document(self, *, with_safety: bool) -> dict[str, Any] | None:
        """The state document now (``None`` before the device was first reached)."""
        node = self.node
        if node.ctx is None:
            return None
        control = node.control
        if control is None or node.device is None:
            # Between sessions: nothing runs that this bridge knows of.
            state = DeviceState(
                None, node.ctx.zone_keys, online=node.link_up, last_refusal=self.last_refusal
            )
        else:
            state = control.state(
                online=node.link_up, last_refusal=self.last_refusal, safety=with_safety
            )
        return state.to_dict()

    def changed(self) -> None:
        """Something in the state may have changed: publish soon (latest wins).

        Most calls (a status with nothing new to show) publish nothing, so the
        decision is a plain callback once the caller is done, and a task is started
        only to publish.
        """
        if not self.node.held:
            return
        self._dirty = True
        if not self._settling and (self._state_task is None or self._state_task.done()):
            self._settling = True
            asyncio.get_running_loop().call_soon(self._settle)

    def _settle(self) -> None:
        self._settling = False
        if not self._dirty or (self._state_task is not None and not self._state_task.done()):
            return
        self._dirty = False
        text = self._state_text(force=False)
        if text is not None:
            self._state_task = self.node.spawn(self._publish_dirty(text))

    async def _publish_dirty(self, text: str | None) -> None:
        while text is not None:
            await self._send_state(text)
            text = None
            if self._dirty:
                self._dirty = False
                text = self._state_text(force=False)

    def slow_refresh_at(self, last_full_at: float) -> float:
        """When this device's slow fields are next due after a full publication."""
        node = self.node
        assert node.device_id is not None
        return slow_refresh_at(
            last_full_at, self.bridge.config.telemetry_interval_s, refresh_phase(node.device_id)
        )

    async def publish_state(self, *, force: bool) -> None:
        """Publish the state: at once when a fast field changed, else at the telemetry pace."""
        text = self._state_text(force=force)
        if text is not None:
            await self._send_state(text)

    def _state_text(self, *, force: bool) -> str | None:
        """The state document to publish now, or ``None``: nothing (new) to publish yet."""
        node = self.node
        if not node.held or node.device_id is None:
            return None
        doc = self.document(with_safety=False)
        if doc is None:
            return None
        loop = asyncio.get_running_loop()
        now = loop.time()
        fast = fast_view(doc)
        if not force and fast == self._last_fast:
            due = self.slow_refresh_at(self._last_full_at)
            if now < due:
                if self._slow_handle is None:
                    self._slow_handle = loop.call_at(due, self._slow_due)
                return None
        if self._slow_handle is not None:
            self._slow_handle.cancel()
            self._slow_handle = None
        if node.device is not None:
            doc["safety"] = node.device.safety.snapshot(now).to_dict()
            doc.update(safety_fields(doc["safety"]))
        text = json.dumps(doc)
        if text == self._last_text and not force:
            return None
        self._last_fast, self._last_full_at, self._last_text = fast, now, text
        return text

    async def _send_state(self, text: str) -> None:
        device_id = self.node.device_id
        if device_id is not None:
            await self.bridge.publish(self.bridge.topics.state(device_id), text, retain=True)

    def _slow_due(self) -> None:
        self._slow_handle = None
        self.changed()

    async def publish_error(
        self,
        error: str,
        topic: str,
        payload: bytes,
        *,
        kind: str = "invalid_command",
        **extra: Any,
    ) -> None:
        """Publish a refusal on the device's error topic, with what was sent.

        ``kind`` (one of ``discovery.REFUSAL_KINDS``) is the ``event_type`` the
        refusal event shows; the text also becomes the state's ``last_refusal``.
        """
        device_id = self.node.device_id
        if device_id is None:
            return
        body = {
            "event_type": kind,
            "error": error,
            "topic": topic,
            "payload": payload[:200].decode("utf-8", "replace"),
            **extra,
        }
        await self.bridge.publish(self.bridge.topics.error(device_id), json.dumps(body))
        self.last_refusal = refusal_line(error)
        self.changed()
