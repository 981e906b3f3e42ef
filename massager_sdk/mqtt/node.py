"""One device served over MQTT: claim it, connect, publish it, obey it, reconnect.

A node lives as long as its device is configured on the bridge. Its device
session and any program it runs do not depend on the broker: while the broker
is away the program plays on, and the bridge publishes the latest state again
when the broker is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import time
import urllib.parse
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Literal

import massager_sdk
from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.client import Device
from massager_sdk.control import Controller, DeviceState
from massager_sdk.errors import (
    BadURLError,
    ConnectionFailed,
    DeviceRefused,
    DeviceTimeout,
    MassagerError,
    NotSupported,
    SafetyRefusal,
)
from massager_sdk.model import DeviceEvent, DeviceStatus, EventKind
from massager_sdk.mqtt.claims import Claim
from massager_sdk.mqtt.commands import (
    Command,
    CommandContext,
    CommandError,
    parse_json_command,
    parse_plain_command,
)
from massager_sdk.mqtt.config import DeviceConfig, url_id
from massager_sdk.mqtt.discovery import device_discovery, legacy_filter
from massager_sdk.mqtt.state import fast_view, refusal_line, safety_fields
from massager_sdk.mqtt.topics import OFFLINE, ONLINE

if TYPE_CHECKING:
    from massager_sdk.mqtt.bridge import Bridge

_log = logging.getLogger("massager_sdk.mqtt")

#: First pause before reconnecting a device; doubles up to the bridge's ``reconnect_max_s``.
FIRST_RETRY_S = 0.5
#: Commands waiting for one device; more are refused (the device cannot keep up).
COMMAND_QUEUE = 32
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
        self._intensity_max: int | None = None
        self._heat_presets: tuple[float, ...] | None = None
        self.device: Device | None = None
        self.phase: Phase = "starting"
        self.error: str | None = None  #: why the last connection failed
        self.held = False  #: this bridge holds the claim and publishes the device
        self.link_up = False
        self.claim: Claim | None = None
        self._claims_changed = asyncio.Event()
        self._session_end = asyncio.Event()
        self._removed = False
        self._commands: asyncio.Queue[tuple[Command, str, bytes]] = asyncio.Queue(COMMAND_QUEUE)
        self._confirm: asyncio.Task[None] | None = None
        #: The control layer over the connected device (``None`` between sessions).
        self.control: Controller | None = None
        self._dirty = False
        self._state_task: asyncio.Task[None] | None = None
        self._slow_handle: asyncio.TimerHandle | None = None
        self._last_fast: tuple[Any, ...] | None = None
        self._last_text: str | None = None
        self._last_full_at = -math.inf
        self._tasks: set[asyncio.Task[Any]] = set()
        self.task: asyncio.Task[None] | None = None
        #: What of ``discovery.REPORTED`` the device has reported: only those get entities.
        self.reported: set[str] = set()
        self._last_refusal: str | None = None
        self._legacy_checked = False  #: per-entity configs of older bridges were looked for
        self._discovery_lock = asyncio.Lock()  #: one discovery (and migration) at a time
        self._subscribed: str | None = None  #: the device id whose commands we receive

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
        while not self._removed:
            staked = self.device_id
            if staked is not None:
                await self._listen()
                await self._wait_until_free(staked)
                if self._removed:
                    return
                if not await self._stake(staked):
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
                    await self._unstake(staked)
            finally:
                await self._detach()
            if self._removed:
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

    async def _listen(self) -> None:
        """Receive the device's commands even while it is not held, to answer them."""
        if self.device_id is not None and self._subscribed != self.device_id:
            self._subscribed = self.device_id
            await self.bridge.subscribe(self.bridge.topics.device_subscriptions(self.device_id))

    async def _wait_until_free(self, device_id: str) -> None:
        """Wait until the claims allow this bridge to take ``device_id``."""
        logged = False
        while not self._removed:
            self._claims_changed.clear()
            await self.bridge.claims_synced()
            reason = self.bridge.conflict(self, device_id)
            if reason is None:
                return
            if not logged:
                _log.warning("device %s stands by: %s", device_id, reason)
                logged = True
            self.phase = "standby"
            self.error = reason
            await self._claims_changed.wait()

    async def _stake(self, device_id: str) -> bool:
        """Claim a free device before connecting; whether this bridge won it.

        Bridges that found it free at the same moment all claim it. Once every
        claim has reached every bridge (``CONTEST_SETTLE_S``), all see the same
        retained claim, the last the broker took, and only its owner connects:
        connecting takes control, so a loser must never open a link. Both the
        look before claiming and the decision wait until this bridge has handled
        everything the broker sent so far: a busy bridge must not decide on
        claims still waiting in its connection.
        """
        from massager_sdk.mqtt.bridge import CONTEST_SETTLE_S

        if not await self.bridge.caught_up() or self.bridge.conflict(self, device_id):
            await asyncio.sleep(CONTEST_SETTLE_S)  # never spin while the broker is away
            return False
        book = self.bridge.claims.claims.get(device_id)
        ours = book is not None and book.owner == self.bridge.owner
        if ours and self.held:
            return True  # reconnecting to a device we hold: contests are the holder's rule
        since = book.since if book is not None and ours else time.time()
        claim = Claim(self.bridge.owner, self.bridge.topics.bridge_state, since)
        await self.bridge.publish(self.bridge.topics.claim(device_id), claim.payload(), retain=True)
        await asyncio.sleep(CONTEST_SETTLE_S)
        if not await self.bridge.caught_up():
            return False
        latest = self.bridge.claims.claims.get(device_id)
        return latest is not None and latest.owner == self.bridge.owner

    async def _unstake(self, device_id: str) -> None:
        """Withdraw a claim this bridge made but could not follow with a connection."""
        latest = self.bridge.claims.claims.get(device_id)
        if latest is not None and latest.owner == self.bridge.owner:
            await self.bridge.publish(self.bridge.topics.claim(device_id), b"", retain=True)

    def claims_changed(self) -> None:
        """A claim or a bridge's state changed: a standing-by node looks again."""
        self._claims_changed.set()

    async def _serve(self, device: Device) -> bool:
        """Serve ``device`` until the session ends; whether it was taken at all."""
        caps = device.info
        if self.device_id is None:
            device_id = self.bridge.config.device_id(self.config, caps.serial)
            # From now on the id is known before connecting, and checked first.
            self.device_id = device_id
            await self._listen()
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
        # Discovery offers only what this device's safety policy accepts.
        self._intensity_max = device.safety.intensity_max()
        self._heat_presets = device.safety.heat_presets()
        self.name = self.config.name or f"{caps.model} {self.device_id}"
        self.error = None
        self._session_end.clear()
        self.control = control = Controller(
            device,
            programs=self.bridge.program,
            on_change=self._state_changed,
            on_program_error=self._program_error,
        )
        self.link_up = device.connected
        self._note_reported(device.last_status)
        unsubscribe = [
            device.on_status(self._on_status),
            device.on_event(self._on_event),
            control.close,
        ]
        worker = asyncio.get_running_loop().create_task(self._command_worker())
        try:
            await self._take()
            await self._session_end.wait()
            return True
        finally:
            for undo in unsubscribe:
                undo()
            worker.cancel()
            if self._confirm is not None and not self._confirm.done():
                self._confirm.cancel()
            for task in (worker, self._confirm):
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            await control.cancel()
            self._drain()
            self.device = None
            self.control = None
            self.link_up = False

    async def _take(self) -> None:
        """Claim the device and publish everything about it."""
        assert self.device_id is not None
        book = self.bridge.claims.claims.get(self.device_id)
        since = book.since if book is not None and book.owner == self.bridge.owner else time.time()
        self.claim = Claim(self.bridge.owner, self.bridge.topics.bridge_state, since)
        self.held = True
        self.phase = "active"
        self.bridge.holding(self)
        await self.bridge.subscribe(self.bridge.topics.device_subscriptions(self.device_id))
        await self.publish_all()

    async def _detach(self) -> None:
        """The session is over: tell whoever listens, unless the device is not ours."""
        self.device = None
        if self.held and not self._removed and self.device_id is not None:
            self.link_up = False
            await self._publish_availability()
            await self._publish_state(force=True)

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
        self._removed = True
        self._session_end.set()
        self._claims_changed.set()
        if self.task is not None:
            await cancel_and_wait(self.task)

    async def remove(self) -> None:
        """Stop serving the device and clear everything published about it."""
        self.phase = "removed"
        was_held, device_id = self.held, self.device_id
        self.held = False
        await self._end()
        for task in list(self._tasks):
            task.cancel()
        if self._slow_handle is not None:
            self._slow_handle.cancel()
        if device_id is None:
            return
        self.bridge.not_holding(self)
        topics = self.bridge.topics
        if self._subscribed is not None:
            await self.bridge.unsubscribe(topics.device_subscriptions(self._subscribed))
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
    # publishing
    # ------------------------------------------------------------------

    async def publish_all(self) -> None:
        """Claim, discovery, availability and state (after a (re)connect or a contest)."""
        if not self.held or self.device_id is None or self.claim is None:
            return
        topics = self.bridge.topics
        await self.bridge.publish(topics.claim(self.device_id), self.claim.payload(), retain=True)
        await self.publish_discovery()
        await self._publish_availability()
        await self._publish_state(force=True)

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
        if not (self.held and self.bridge.config.discovery) or self.caps is None:
            return
        assert self.device_id is not None and self.name is not None
        topics = self.bridge.topics
        legacy: list[str] = []
        if not self._legacy_checked:
            found = await self.bridge.read_retained(legacy_filter(topics, self.device_id))
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
            self.device_id,
            self.name,
            self.caps,
            self.bridge.programs,
            sw_version=massager_sdk.__version__,
            intensity_max=self._intensity_max,
            heat_presets=self._heat_presets,
            reported=self.reported,
        )
        await self.bridge.publish(topic, json.dumps(payload), retain=True)

    def _note_reported(self, status: DeviceStatus | None) -> bool:
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

    async def _publish_availability(self) -> None:
        if self.held and self.device_id is not None:
            await self.bridge.publish(
                self.bridge.topics.availability(self.device_id),
                ONLINE if self.link_up else OFFLINE,
                retain=True,
            )

    def state(self) -> dict[str, Any] | None:
        """The state document now (``None`` before the device was first reached)."""
        return self._document(with_safety=True)

    def _document(self, *, with_safety: bool) -> dict[str, Any] | None:
        if self.ctx is None:
            return None
        control = self.control
        if control is None or self.device is None:
            # Between sessions: nothing runs that this bridge knows of.
            state = DeviceState(
                None, self.ctx.zone_keys, online=self.link_up, last_refusal=self._last_refusal
            )
        else:
            state = control.state(
                online=self.link_up, last_refusal=self._last_refusal, safety=with_safety
            )
        return state.to_dict()

    def _state_changed(self) -> None:
        """Something in the state may have changed: publish soon (latest wins)."""
        if not self.held:
            return
        self._dirty = True
        if self._state_task is None or self._state_task.done():
            self._state_task = self._spawn(self._publish_dirty())

    async def _publish_dirty(self) -> None:
        while self._dirty:
            self._dirty = False
            await self._publish_state(force=False)

    async def _publish_state(self, *, force: bool) -> None:
        """Publish the state: at once when a fast field changed, else at the telemetry pace."""
        if not self.held or self.device_id is None:
            return
        doc = self._document(with_safety=False)
        if doc is None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        fast = fast_view(doc)
        if not force and fast == self._last_fast:
            due = self._last_full_at + self.bridge.config.telemetry_interval_s
            if now < due:
                if self._slow_handle is None:
                    self._slow_handle = loop.call_at(due, self._slow_due)
                return
        if self._slow_handle is not None:
            self._slow_handle.cancel()
            self._slow_handle = None
        if self.device is not None:
            doc["safety"] = self.device.safety.snapshot(now).to_dict()
            doc.update(safety_fields(doc["safety"]))
        text = json.dumps(doc)
        if text == self._last_text and not force:
            return
        self._last_fast, self._last_full_at, self._last_text = fast, now, text
        await self.bridge.publish(self.bridge.topics.state(self.device_id), text, retain=True)

    def _slow_due(self) -> None:
        self._slow_handle = None
        self._state_changed()

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
        if self.device_id is None:
            return
        body = {
            "event_type": kind,
            "error": error,
            "topic": topic,
            "payload": payload[:200].decode("utf-8", "replace"),
            **extra,
        }
        await self.bridge.publish(self.bridge.topics.error(self.device_id), json.dumps(body))
        self._last_refusal = refusal_line(error)
        self._state_changed()

    # ------------------------------------------------------------------
    # telemetry
    # ------------------------------------------------------------------

    def _on_status(self, status: DeviceStatus) -> None:
        if self._note_reported(status):
            self._spawn(self.publish_discovery())  # a sensor it did not have before
        self._state_changed()

    def _on_event(self, event: DeviceEvent) -> None:
        if event.kind is EventKind.LINK_LOST:
            if event.active is None:  # the client gave up: the session is over
                self._session_end.set()
                return
            self.link_up = event.active is False
            self._spawn(self._publish_availability())
        elif event.kind is EventKind.LINK_RESTORED:
            self.link_up = True
            self._spawn(self._publish_availability())
        self._state_changed()

    # ------------------------------------------------------------------
    # commands
    # ------------------------------------------------------------------

    def submit(self, attr: str | None, payload: bytes, topic: str) -> None:
        """A message on one of the device's set topics (called by the bridge)."""
        ctx = self.ctx
        try:
            if ctx is None:
                raise CommandError(
                    "the device has not been reached yet; try again later", kind="unavailable"
                )
            if self.device is None:
                raise CommandError(
                    "the device is not connected; the bridge is reconnecting", kind="unavailable"
                )
            max_bytes = self.bridge.config.max_payload
            command = (
                parse_json_command(payload, ctx, max_bytes=max_bytes)
                if attr is None
                else parse_plain_command(attr, payload, ctx, max_bytes=max_bytes)
            )
        except CommandError as exc:
            self._spawn(self.publish_error(str(exc), topic, payload, **_fields(exc)))
            return
        if command.emergency_stop:
            # Never queued behind other commands: those were sent before the stop.
            self._drain()
            self._spawn(self._emergency_stop(command, topic, payload))
            return
        if not self.link_up:
            # The client is getting the link back: say so now rather than after a timeout.
            error = CommandError(
                "the device's link is down; the client is reconnecting, try again shortly",
                kind="unavailable",
            )
            self._spawn(self.publish_error(str(error), topic, payload, **_fields(error)))
            return
        try:
            self._commands.put_nowait((command, topic, payload))
        except asyncio.QueueFull:
            self._spawn(
                self.publish_error(
                    f"{COMMAND_QUEUE} commands are already waiting for this device; "
                    "this one was dropped",
                    topic,
                    payload,
                    kind="unavailable",
                )
            )

    def _drain(self) -> None:
        while not self._commands.empty():
            self._commands.get_nowait()

    async def _command_worker(self) -> None:
        while True:
            command, topic, payload = await self._commands.get()
            try:
                await self._apply(command)
            except CommandError as exc:
                await self.publish_error(str(exc), topic, payload, **_fields(exc))
            except SafetyRefusal as exc:
                await self.publish_error(
                    f"refused by the safety policy: {exc}",
                    topic,
                    payload,
                    kind="emergency_stop" if str(exc.limit) == "emergency_stop" else "safety_limit",
                    limit=str(exc.limit),
                    allowed=_jsonable(exc.allowed),
                )
            except (DeviceRefused, NotSupported, ConnectionFailed, DeviceTimeout) as exc:
                await self.publish_error(
                    f"device error: {exc}", topic, payload, kind="device_error"
                )
            except (MassagerError, ValueError, TypeError) as exc:
                await self.publish_error(str(exc), topic, payload)
            except Exception as exc:  # the bridge must outlive any bug in one command
                _log.exception("command to %s failed", self.device_id)
                await self.publish_error(
                    f"internal error: {exc!r}", topic, payload, kind="device_error"
                )

    async def _apply(self, command: Command) -> None:
        control = self.control
        if control is None or self.device is None:
            raise CommandError(
                "the device is not connected; the bridge is reconnecting", kind="unavailable"
            )
        request = command.request()
        await control.apply(request)
        if (request.sets_outputs or request.on) and not control.program_running():
            if self._confirm is not None and not self._confirm.done():
                self._confirm.cancel()  # a newer command supersedes the wait
            self._confirm = self._spawn(self._confirmed(control))

    async def _confirmed(self, control: Controller) -> None:
        """Publish the outputs again once the device has acknowledged them."""
        try:
            await control.wait_acknowledged()
        except (DeviceRefused, NotSupported, SafetyRefusal) as exc:
            await self.publish_error(f"device error: {exc}", "", b"", kind="device_error")
        except MassagerError:
            return  # the link is down: availability says so

    async def _emergency_stop(self, command: Command, topic: str, payload: bytes) -> None:
        control = self.control
        if command.ignored:
            await self.publish_error(
                f"state OFF is an emergency stop and wins: ignored {', '.join(command.ignored)}",
                topic,
                payload,
                kind="emergency_stop",
                ignored=list(command.ignored),
            )
        if control is None or self.device is None:
            await self.publish_error(
                "the device is not connected: its watchdog has stopped it",
                topic,
                payload,
                kind="unavailable",
            )
            return
        if self._confirm is not None and not self._confirm.done():
            self._confirm.cancel()
        try:
            await control.emergency_stop("state OFF over MQTT")
        except MassagerError as exc:
            await self.publish_error(
                f"could not confirm the stop ({exc}); the device watchdog stops it "
                f"within {control.device.info.watchdog_s:g} s",
                topic,
                payload,
                kind="device_error",
            )

    def _program_error(self, text: str) -> None:
        self._spawn(self.publish_error(text, "", b"", kind="device_error"))

    # ------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

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


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait for it to end, cancelling again if a cancellation was lost.

    (``asyncio.wait_for`` before Python 3.12 can swallow a cancellation that
    arrives as its inner future completes.)
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    if not task.cancelled() and task.exception() is not None:
        _log.error("task %s failed", task.get_name(), exc_info=task.exception())


def _fields(error: CommandError) -> dict[str, Any]:
    return {"kind": error.kind, "field": error.field, "accepted": error.accepted}


def _jsonable(value: object) -> object:
    return value if isinstance(value, int | float | str | bool | type(None)) else str(value)
