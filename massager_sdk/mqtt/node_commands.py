"""Commands to one device over MQTT: parse, queue, hand to the control layer, answer.

What a command does (arbitration with a running program, all-or-nothing
multi-zone settings, the program's lifecycle, the emergency stop) is the
control layer's (:class:`~massager_sdk.control.Controller`), the same for
every face; this part only turns messages into its requests, keeps them in
order, and publishes why one was refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from massager_sdk.control import Controller
from massager_sdk.errors import (
    ConnectionFailed,
    DeviceRefused,
    DeviceTimeout,
    MassagerError,
    NotSupported,
    SafetyRefusal,
)
from massager_sdk.mqtt.commands import (
    Command,
    CommandError,
    parse_json_command,
    parse_plain_command,
)

if TYPE_CHECKING:
    from massager_sdk.mqtt.node import DeviceNode

_log = logging.getLogger("massager_sdk.mqtt")

#: Commands waiting for one device; more are refused (the device cannot keep up).
COMMAND_QUEUE = 32


class NodeCommands:
    """The command queue of one node and its worker, for one device session at a time."""

    def __init__(self, node: DeviceNode) -> None:
        self.node = node
        self._queue: asyncio.Queue[tuple[Command, str, bytes]] = asyncio.Queue(COMMAND_QUEUE)
        self._confirm: asyncio.Task[None] | None = None
        self._worker: asyncio.Task[None] | None = None

    def open(self) -> None:
        """A session began: carry out queued commands."""
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def close(self) -> None:
        """The session ended: stop the worker and any wait for an acknowledgement."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
        self._cancel_confirm()
        for task in (worker, self._confirm):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def drain(self) -> None:
        """Forget the commands waiting."""
        while not self._queue.empty():
            self._queue.get_nowait()

    def _cancel_confirm(self) -> None:
        if self._confirm is not None and not self._confirm.done():
            self._confirm.cancel()

    def _refuse(self, error: CommandError, topic: str, payload: bytes) -> None:
        self.node.spawn(self.node.publish_error(str(error), topic, payload, **_fields(error)))

    def submit(self, attr: str | None, payload: bytes, topic: str) -> None:
        """A message on one of the device's set topics (called by the bridge)."""
        node = self.node
        ctx = node.ctx
        try:
            if ctx is None:
                raise CommandError(
                    "the device has not been reached yet; try again later", kind="unavailable"
                )
            if node.device is None:
                raise CommandError(
                    "the device is not connected; the bridge is reconnecting", kind="unavailable"
                )
            max_bytes = node.bridge.config.max_payload
            command = (
                parse_json_command(payload, ctx, max_bytes=max_bytes)
                if attr is None
                else parse_plain_command(attr, payload, ctx, max_bytes=max_bytes)
            )
        except CommandError as exc:
            self._refuse(exc, topic, payload)
            return
        if command.emergency_stop:
            # Never queued behind other commands: those were sent before the stop.
            self.drain()
            node.spawn(self._emergency_stop(command, topic, payload))
            return
        if not node.link_up:
            # The client is getting the link back: say so now rather than after a timeout.
            error = CommandError(
                "the device's link is down; the client is reconnecting, try again shortly",
                kind="unavailable",
            )
            self._refuse(error, topic, payload)
            return
        try:
            self._queue.put_nowait((command, topic, payload))
        except asyncio.QueueFull:
            node.spawn(
                node.publish_error(
                    f"{COMMAND_QUEUE} commands are already waiting for this device; "
                    "this one was dropped",
                    topic,
                    payload,
                    kind="unavailable",
                )
            )

    async def _work(self) -> None:
        publish_error = self.node.publish_error
        while True:
            command, topic, payload = await self._queue.get()
            try:
                await self._apply(command)
            except CommandError as exc:
                await publish_error(str(exc), topic, payload, **_fields(exc))
            except SafetyRefusal as exc:
                await publish_error(
                    f"refused by the safety policy: {exc}",
                    topic,
                    payload,
                    kind="emergency_stop" if str(exc.limit) == "emergency_stop" else "safety_limit",
                    limit=str(exc.limit),
                    allowed=_jsonable(exc.allowed),
                )
            except (DeviceRefused, NotSupported, ConnectionFailed, DeviceTimeout) as exc:
                await publish_error(f"device error: {exc}", topic, payload, kind="device_error")
            except (MassagerError, ValueError, TypeError) as exc:
                await publish_error(str(exc), topic, payload)
            except Exception as exc:  # the bridge must outlive any bug in one command
                _log.exception("command to %s failed", self.node.device_id)
                await publish_error(f"internal error: {exc!r}", topic, payload, kind="device_error")

    async def _apply(self, command: Command) -> None:
        control = self.node.control
        if control is None or self.node.device is None:
            raise CommandError(
                "the device is not connected; the bridge is reconnecting", kind="unavailable"
            )
        request = command.request()
        await control.apply(request)
        if (request.sets_outputs or request.on) and not control.program_running():
            self._cancel_confirm()  # a newer command supersedes the wait
            self._confirm = self.node.spawn(self._confirmed(control))

    async def _confirmed(self, control: Controller) -> None:
        """Publish the outputs again once the device has acknowledged them."""
        try:
            await control.wait_acknowledged()
        except (DeviceRefused, NotSupported, SafetyRefusal) as exc:
            await self.node.publish_error(f"device error: {exc}", "", b"", kind="device_error")
        except MassagerError:
            return  # the link is down: availability says so

    async def _emergency_stop(self, command: Command, topic: str, payload: bytes) -> None:
        node = self.node
        control = node.control
        if command.ignored:
            await node.publish_error(
                f"state OFF is an emergency stop and wins: ignored {', '.join(command.ignored)}",
                topic,
                payload,
                kind="emergency_stop",
                ignored=list(command.ignored),
            )
        if control is None or node.device is None:
            await node.publish_error(
                "the device is not connected: its watchdog has stopped it",
                topic,
                payload,
                kind="unavailable",
            )
            return
        self._cancel_confirm()
        try:
            await control.emergency_stop("state OFF over MQTT")
        except MassagerError as exc:
            await node.publish_error(
                f"could not confirm the stop ({exc}); the device watchdog stops it "
                f"within {control.device.info.watchdog_s:g} s",
                topic,
                payload,
                kind="device_error",
            )

    def program_error(self, text: str) -> None:
        """The control layer ended a program on an error: say so on the error topic."""
        self.node.spawn(self.node.publish_error(text, "", b"", kind="device_error"))


def _fields(error: CommandError) -> dict[str, Any]:
    return {"kind": error.kind, "field": error.field, "accepted": error.accepted}


def _jsonable(value: object) -> object:
    return value if isinstance(value, int | float | str | bool | type(None)) else str(value)
