"""The link supervisor: handshake, requests over a live link, loss, resync, reconnect.

One reconnect layer for every face. A command left unanswered after its
retries, or a transport that reports the link closed, is a loss: waiting
requests fail, ``LINK_LOST`` is published, and :meth:`LinkSupervisor.reconnect`
tries again with exponential backoff until ``reconnect_grace_s`` has passed
since the loss. Only the same device (model and serial) may come back; then
the device's state is read again (handshake) and ``LINK_RESTORED`` is
published. Otherwise the session gives up: the device is sent a last STOP_ALL
in case it still hears, every call fails with :class:`ConnectionFailed` from
then on, and telemetry ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.errors import ConnectionFailed, DeviceRefused, DeviceTimeout
from massager_sdk.model import DeviceEvent, EventKind
from massager_sdk.profiles.selection import check_allowed
from massager_sdk.protocols import Command, GetInfo, GetStatus, Reply, StopAll
from massager_sdk.safety import SafetyPolicy
from massager_sdk.session.core import SessionCore
from massager_sdk.session.plan import OutputPlan
from massager_sdk.session.slots import PatternSlots

_log = logging.getLogger("massager_sdk")

#: Reconnect backoff: first pause, growth factor and longest pause (seconds).
BACKOFF_FIRST_S, BACKOFF_FACTOR, BACKOFF_MAX_S = 0.05, 2.0, 2.0
#: Latched fault flags that say the device stopped on its own, and the event they stand for.
STOP_LATCHES = {"watchdog": EventKind.WATCHDOG_STOP, "auto_off": EventKind.AUTO_OFF}
#: Past this fraction of the watchdog time since the device surely heard us, it may have
#: stopped unseen: nothing is sent on before its status says what it runs.
UNSURE_FRACTION = 0.8
#: A link whose every recent round trip takes this fraction of the watchdog time or more
#: is too slow for it: a lost keepalive could not be noticed and sent again in time.
SLOW_FRACTION = 0.5


class OtherDevice(ConnectionFailed):
    """A reconnect reached a different device than the session started with."""


class LinkSupervisor:
    """Keeps the link of one session: up, lost, regained or given up."""

    def __init__(self, core: SessionCore) -> None:
        self.core = core

    async def open(self, on_data: Callable[[bytes], None]) -> None:
        """Settle the protocol (and channel), connect and read the device.

        ``on_data`` receives the device's bytes. On any failure the transport is
        closed, the session is ``closed`` and the error is raised.
        """
        core = self.core
        try:
            prepared = await core.link_request.prepare(core.transport)
            core.use(prepared.transport, prepared.adapter)
            core.selection = prepared.selection
            core.link_keys = prepared.keys
            core.override = prepared.override
            core.transport.set_receiver(on_data, self.transport_lost)
            await core.transport.connect()
            try:
                await self.handshake()
            except DeviceTimeout as exc:
                raise ConnectionFailed(
                    f"{core.transport.description} does not answer: {exc}"
                ) from exc
        except BaseException:
            core.state = "closed"
            await core.transport.close()
            raise

    # -- requests ----------------------------------------------------------------

    async def request(
        self,
        command: Command,
        still_wanted: Callable[[], bool] | None = None,
        on_late: Callable[[Reply], None] | None = None,
    ) -> Reply | None:
        """Send a command over a live link; a command left unanswered means the link is lost."""
        await self.wait_link()
        try:
            return await self.core.requester.request(
                command, still_wanted=still_wanted, on_late=on_late
            )
        except (DeviceTimeout, ConnectionFailed) as exc:
            self.lost(str(exc))
            raise

    async def wait_link(self) -> None:
        """Until the link is up; :class:`ConnectionFailed` if it is not back in time."""
        core = self.core
        requester = core.requester
        deadline = core.now() + requester.timeout * (requester.retries + 1)
        while not core.link_up:
            if core.failure is not None:
                raise core.failure
            if core.state not in ("open", "closing"):
                raise ConnectionFailed(f"the device is {core.state}")
            if core.now() >= deadline:
                raise ConnectionFailed(f"the link to {core.describe()} is down (reconnecting)")
            await core.wait_progress(deadline)

    # -- the handshake -------------------------------------------------------------

    async def handshake(self) -> None:
        """Read INFO and STATUS over a fresh link and take the device's state as told."""
        core = self.core
        core.adapter.reset()
        info = await core.requester.request(GetInfo())
        assert info is not None and info.info is not None
        caps = info.info
        first = core.caps is None
        if core.caps is None:
            self._identified(self._user_overrides(caps))
        elif (caps.model, caps.serial) != (core.caps.model, core.caps.serial):
            raise OtherDevice(
                f"a different device answered on {core.transport.description}: "
                f"{caps.model} {caps.serial}, expected {core.caps.model} {core.caps.serial}"
            )
        reply = await core.requester.request(GetStatus())
        assert reply is not None and reply.status is not None
        status = reply.status
        if first and status.running and core.control:
            # Connecting takes control: start from a stopped device.
            await core.requester.request(StopAll())
            status = dataclasses.replace(
                status, intensities=(0,) * len(status.intensities), heat_target_c=None
            )
        core.take_as_told(status)
        core.auto_off_synced = False
        core.plan.slots.link_renewed()
        core.outputs_changed()
        core.link_up = True
        core.lost_at = None
        core.notify()

    def _identified(self, caps: DeviceCapabilities) -> None:
        """The device is known: its policy, its plan and its keepalive pace."""
        core = self.core
        profile, refused = core.options.person()
        # A monitor drives nothing: it needs no acknowledged profile of its own.
        refused = refused if core.control else None
        safety = SafetyPolicy(caps, core.options.limits, profile, profile_refused=refused)
        keepalive = core.options.keepalive_s or safety.keepalive_interval_s
        if keepalive >= caps.watchdog_s:
            raise ValueError(
                f"keepalive_s={keepalive} must be shorter than the device watchdog "
                f"({caps.watchdog_s} s)"
            )
        core.caps, core.safety, core.keepalive_s = caps, safety, keepalive
        core.plan = OutputPlan(
            len(caps.zones),
            PatternSlots(caps.pattern_slots),
            gap_s=max(core.transport.min_gap_s, caps.min_gap_s),
        )

    def _user_overrides(self, caps: DeviceCapabilities) -> DeviceCapabilities:
        """The device file's word on this device, now that its serial number is known too."""
        core = self.core
        keys = (*core.link_keys, caps.serial) if caps.serial else core.link_keys
        devices = core.link_request.devices
        check_allowed(devices, keys, core.transport.description)
        if core.override is None:
            core.override = devices.override(*keys)
        if core.override is None:
            return caps
        applied = core.override.apply(caps)
        if applied != caps:
            _log.info(
                "%s: the device file caps %s (intensity 0..%d, heater %s)",
                core.transport.description,
                caps.model,
                applied.intensity_steps,
                "off" if applied.heat is None else "allowed",
            )
        return applied

    # -- is the device still doing what we think? ----------------------------------

    def unsure(self, now: float) -> bool:
        """Whether the device may have stopped by its watchdog without our knowing.

        The link carried nothing the device answered for most of its watchdog time
        while something is on (noise, a stalled host): its WATCHDOG_STOP event may
        have been lost, and a level sent on from what we told it could then start a
        stopped motor without the soft start.
        """
        core = self.core
        if core.caps is None or not core.control:
            return False
        silent = now - core.requester.last_confirmed
        return core.plan.running and silent >= core.caps.watchdog_s * UNSURE_FRACTION

    def too_slow(self) -> str | None:
        """Why the link is too slow for the device's watchdog, or ``None`` if it is not.

        Judged on the latest round trips (each from a try's write to its answer):
        all of them taking half the watchdog time or more.
        """
        core = self.core
        trips = core.requester.round_trips
        if core.caps is None or not core.control or len(trips) < (trips.maxlen or 1):
            return None
        watchdog = core.caps.watchdog_s
        if min(trips) < watchdog * SLOW_FRACTION:
            return None
        return (
            f"the link to {core.describe()} is too slow for the device's watchdog: "
            f"replies take {min(trips):.2f}-{max(trips):.2f} s (measured round trip), the "
            f"device stops itself after {watchdog:g} s without a frame and needs round trips "
            f"under {watchdog * SLOW_FRACTION:g} s; the device was stopped"
        )

    def still_sure(self) -> bool:
        """For a command's retries: not once the device may have stopped unseen."""
        return not self.unsure(self.core.now())

    async def resync(self, now: float) -> DeviceEvent | None:
        """Read the device's status; the stop event a latch it shows stands for, if any."""
        core = self.core
        core.stats.resyncs += 1
        reply = await self.request(GetStatus())
        assert reply is not None and reply.status is not None
        if not core.plan.running:
            return None
        for name, kind in STOP_LATCHES.items():
            if name in reply.status.faults:
                _log.warning(
                    "%s: the device stopped on its own unseen (%s latched)", core.describe(), name
                )
                return DeviceEvent(kind, True, detail=f"{name} found latched in STATUS", time=now)
        return None

    # -- loss and reconnection -----------------------------------------------------

    def lost(self, reason: str) -> None:
        """The link is gone: fail what waits for it and say so (once per loss)."""
        core = self.core
        if not core.link_up or core.state not in ("open", "closing"):
            return
        now = core.now()
        core.link_up = False
        core.lost_at = now
        _log.warning("%s: link lost: %s", core.describe(), reason)
        core.requester.fail_all(ConnectionFailed(f"link to {core.describe()} lost: {reason}"))
        core.hub.publish(DeviceEvent(EventKind.LINK_LOST, True, detail=reason, time=now))
        core.kick()

    def transport_lost(self, exc: BaseException | None) -> None:
        """The transport's callback when it closes (``exc``: why, if it knows)."""
        self.lost(f"{self.core.transport.description} closed" if exc is None else str(exc))

    async def reconnect(self) -> bool:
        """Regain the link within the grace period; ``False`` when the session ended."""
        core = self.core
        lost_at = core.lost_at if core.lost_at is not None else core.now()
        deadline = lost_at + core.options.reconnect_grace_s
        pause = BACKOFF_FIRST_S
        reason = "no attempt"
        while True:
            await core.transport.disconnect()
            try:
                await core.transport.connect()
                await self.handshake()
            except OtherDevice as exc:
                reason = str(exc)
                break
            except (ConnectionFailed, DeviceTimeout, DeviceRefused, OSError, ValueError) as exc:
                reason = str(exc) or type(exc).__name__
            else:
                core.stats.reconnects += 1
                now = core.now()
                _log.info("%s: link restored after %.2f s", core.describe(), now - lost_at)
                core.hub.publish(
                    DeviceEvent(EventKind.LINK_RESTORED, False, now - lost_at, time=now)
                )
                core.kick()
                return True
            now = core.now()
            if now >= deadline:
                break
            await asyncio.sleep(min(pause, deadline - now))
            pause = min(pause * BACKOFF_FACTOR, BACKOFF_MAX_S)
        await self.give_up(reason)
        return False

    async def give_up(self, reason: str) -> None:
        """End the session for good: the link did not come back."""
        core = self.core
        now = core.now()
        grace = core.options.reconnect_grace_s
        text = f"link to {core.describe()} not regained within {grace:g} s ({reason})"
        if core.control:
            text += "; the session is stopped and the device watchdog has stopped its outputs"
        _log.error("%s", text)
        if core.control and core.transport.connected:
            await self.last_stop()  # it answers nothing, but a STOP may still get through
        core.failure = ConnectionFailed(text)
        core.forget_outputs()
        core.hub.publish(DeviceEvent(EventKind.LINK_LOST, None, detail=text, time=now))
        core.requester.fail_all(core.failure)
        await core.transport.disconnect()
        core.hub.close()
        core.notify()

    async def last_stop(self) -> None:
        """Write a STOP_ALL without waiting for an answer (nothing may come)."""
        core = self.core
        with contextlib.suppress(Exception):
            await core.requester.write(core.adapter.encode(StopAll(), 1))
