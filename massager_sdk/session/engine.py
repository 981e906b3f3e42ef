"""The engine: the one task per device that glues the plan, the requester and the link.

It receives what the device sends (replies, statuses, events), carries out what
the safety policy requires (a stop, a heat-off), and loops: whatever the output
plan (:mod:`.plan`) decides is sent and its answer told back to the plan; when
nothing is due it keeps the device's watchdog fed, asks for the status while
something runs, and sleeps until the next deadline or until woken.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import signal
from collections.abc import Callable

from massager_sdk.errors import (
    ConnectionFailed,
    DeviceRefused,
    DeviceTimeout,
    LinkTooSlow,
    MassagerError,
)
from massager_sdk.model import DeviceEvent, DeviceStatus, EventKind
from massager_sdk.protocols import (
    Command,
    GetStatus,
    Keepalive,
    Reply,
    SetAutoOff,
    SetHeat,
    SetZones,
    StopAll,
    UploadPattern,
)
from massager_sdk.session.core import SessionCore, running
from massager_sdk.session.link import LinkSupervisor
from massager_sdk.session.plan import EPS, SendHeat, SendZones, Upload, Wait

_log = logging.getLogger("massager_sdk")

#: The shortest wait for a safety deadline that is already due (never spin).
MIN_WAIT_S = 0.001
#: Each keepalive goes between this fraction of the keepalive interval and all of it after
#: the last write (never later). Devices switched on together would otherwise be fed in
#: the same instant every interval for as long as they run: one host serving many of them
#: (the MQTT bridge) would stall on that burst, and a command arriving then would wait.
KEEPALIVE_SPREAD = 0.8


class Engine:
    """Receives from the device and drives it, for one session."""

    def __init__(self, core: SessionCore, link: LinkSupervisor) -> None:
        self.core = core
        self.link = link
        self._counts_auto_off = False  # the device's statuses carry its auto-off count
        # The latest output command written for each zone and for the heater ("heat"):
        # a late acknowledgement counts only while its command is still the newest.
        self._newest: dict[int | str, SendHeat | SendZones] = {}
        self._pace: random.Random | None = None  # drawn per device: see _keepalive_at
        self._keepalive_after = math.nan  # the write the next keepalive is timed from
        self._keepalive_gap = 0.0

    # -- receiving -----------------------------------------------------------------

    def on_data(self, data: bytes) -> None:
        """The transport's callback for bytes from the device."""
        core = self.core
        now = core.now()
        for item in core.adapter.feed(data, now):
            if isinstance(item, Reply):
                if item.status is not None:
                    self._status_arrived(item.status, now)
                core.requester.resolve(item)
            elif isinstance(item, DeviceStatus):
                self._status_arrived(item, now)
            else:
                self.event_arrived(item, now)

    def _status_arrived(self, status: DeviceStatus, now: float) -> None:
        core = self.core
        previous, core.last_status = core.last_status, status
        core.last_status_at = now
        self._counts_auto_off = self._counts_auto_off or status.auto_off_s > 0
        if not core.control:
            # A monitor takes the device's outputs as they are (it wants nothing of its own).
            core.take_as_told(status)
            core.notify()
        elif core.safety is not None:
            core.safety.observe_status(status, now)
        core.hub.publish(status)
        if self._stopped_elsewhere(previous, status):
            # No event of its own says so: tell every part as if the device had.
            event = DeviceEvent(
                EventKind.EXTERNAL_STOP, None, detail=EventKind.EXTERNAL_STOP.stop_reason, time=now
            )
            self.event_arrived(event, now)
        self.check_safety(now)

    def _stopped_elsewhere(self, previous: DeviceStatus | None, status: DeviceStatus) -> bool:
        """Whether ``status`` shows the device gone idle while this host had it on and
        stopped nothing (a stop from another host, or a device that sends no event).

        Idle is the device's own word: no zone, no heat and no auto-off count
        running (a motor still spinning up or a pulse's off half keeps it
        counting). A device whose statuses never carried an auto-off count must
        have shown itself running just before (its reports may leave out a heater
        target). A status with fault flags is the device's own stop, explained by
        its event.
        """
        core = self.core
        plan = core.plan
        return (
            core.control
            and core.state == "open"
            and core.link_up  # a handshake's status is taken as told, not as a stop
            and not core.stopping()
            and plan.acknowledged.running
            and plan.wanted.running
            and previous is not None
            and (self._counts_auto_off or previous.running)
            and not status.running
            and status.auto_off_s == 0
            and not status.faults
        )

    def event_arrived(self, event: DeviceEvent, now: float) -> None:
        """An event from the device (or one a resync found latched)."""
        core = self.core
        if core.safety is not None and core.control:
            core.safety.observe_event(event, now)
        if event.raised and core.control:
            if event.kind.stops_outputs:
                # The device switched off on its own (timer, button, battery): so do we.
                core.forget_outputs()
                if event.kind is EventKind.BUTTON and core.state == "open":
                    self.spawn_stop(f"stop button pressed on {core.describe()}")
            elif event.kind.heat_fault and event.active:
                # Never heat again on our own; the policy has the device told (heat_off).
                core.plan.wish_heat(None)
        core.hub.publish(event)
        self.check_safety(now)

    # -- safety actions and stopping -------------------------------------------------

    def check_safety(self, now: float) -> None:
        """Carry out what the policy requires now; an action already under way is not repeated."""
        core = self.core
        if (
            core.safety is None
            or not core.control  # a monitor's policy sees no session of its own
            or core.state != "open"
            or core.failure is not None
        ):
            return
        actions = core.safety.required_actions(now)
        if not actions:
            return
        stop = next((a for a in actions if a.kind == "stop_all"), None)
        action = stop or actions[0]
        if core.stopping() or (stop is None and running(core.heat_task)):
            return
        core.stats.safety_stops += 1
        _log.warning("%s: safety %s: %s", core.describe(), action.kind, action.reason)
        if stop is not None:
            self.spawn_stop(stop.reason)
        else:
            core.plan.wish_heat(None)
            core.heat_task = core.spawn(self._send_heat_off(), "massager-heat-off")
        core.hub.publish(
            DeviceEvent(
                EventKind.SAFETY_STOP, None, detail=f"{action.kind}: {action.reason}", time=now
            )
        )

    def spawn_stop(self, reason: str) -> asyncio.Task[None]:
        """Want nothing and send STOP_ALL now (one stop in flight at a time)."""
        core = self.core
        core.plan.clear()
        if core.stop_task is not None and not core.stop_task.done():
            return core.stop_task
        _log.info("%s: stopping: %s", core.describe(), reason)
        task = core.spawn(self.send_stop(), "massager-stop")
        core.stop_task = task
        return task

    async def send_stop(self) -> None:
        """STOP_ALL, waiting for the device's acknowledgement."""
        await self.link.request(StopAll())
        self.core.told_off()

    async def _send_heat_off(self) -> None:
        await self.link.request(SetHeat(None))
        self.core.plan.heat_stopped()
        self.core.outputs_changed()

    async def leave(self) -> None:
        """Before the link closes: stop the device (a monitor leaves it as it found it)."""
        core = self.core
        if not core.control:
            return
        if core.link_up and core.failure is None:
            core.plan.clear()
            try:
                await self.send_stop()
            except MassagerError as exc:
                _log.warning("could not stop %s before closing: %s", core.describe(), exc)
        elif core.failure is None:
            _log.warning(
                "closing %s while its link is down: its watchdog stops it", core.describe()
            )

    def signalled(self, sig: int) -> None:
        """SIGINT or SIGTERM arrived: an emergency stop (a monitor only ends)."""
        core = self.core
        reason = f"{signal.Signals(sig).name} received"
        _log.warning("%s: %s: stopping", core.describe(), reason)
        if not core.control:
            return  # the device is another host's to stop
        if core.safety is not None:
            # Outputs stay refused until resume(), even on a device that stays open.
            core.safety.emergency_stop(reason, core.now())
        if core.state == "open" and core.failure is None:
            self.spawn_stop(reason)

    # -- the task --------------------------------------------------------------------

    async def run(self) -> None:
        """The session task: until cancelled or the link is given up."""
        core = self.core
        try:
            await self._loop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not leave the device running unattended
            _log.exception("%s: the session task failed", core.describe())
            core.failure = ConnectionFailed(f"the session with {core.describe()} failed: {exc!r}")
            await self.link.last_stop()
            core.forget_outputs()
            core.hub.close()
            core.notify()

    async def _loop(self) -> None:
        core = self.core
        while True:
            core.wake.clear()
            if not core.link_up:
                if not await self.link.reconnect():
                    return
                continue
            if not core.control:
                await core.wake.wait()  # a monitor sends nothing of its own
                continue
            slow = self.link.too_slow()
            if slow is not None:
                await self._end_too_slow(slow)
                return
            now = core.now()
            self.check_safety(now)
            actions = [
                t for t in (core.stop_task, core.heat_task) if t is not None and not t.done()
            ]
            if actions:  # outputs wait until the safety action is done
                await asyncio.wait(actions)
                continue
            try:
                wake_at = await self._step(now)
            except ConnectionFailed:
                continue  # the link is lost: reconnect
            except (DeviceTimeout, DeviceRefused) as exc:
                core.error = exc  # reported by the next call (a timeout also reconnects)
                core.notify()
                continue
            if wake_at is None:
                continue  # something was sent: look again at once
            core.notify()
            if wake_at == math.inf:
                await core.wake.wait()
            elif wake_at > core.now() + EPS:
                # Woken by the loop's timer rather than a timeout: no exception, hence
                # no garbage cycle for the collector, once a second on every device.
                timer = asyncio.get_running_loop().call_at(wake_at, core.wake.set)
                try:
                    await core.wake.wait()
                finally:
                    timer.cancel()
            else:  # due already, yet nothing was sent: never spin, let time pass
                await asyncio.sleep(MIN_WAIT_S)

    async def _end_too_slow(self, reason: str) -> None:
        """The link cannot keep the watchdog's promise: stop the device and end the session."""
        core = self.core
        _log.error("%s", reason)
        core.plan.clear()
        try:
            await self.send_stop()
        except MassagerError:
            await self.link.last_stop()
        core.failure = LinkTooSlow(reason)
        core.forget_outputs()
        core.hub.publish(DeviceEvent(EventKind.SAFETY_STOP, None, detail=reason, time=core.now()))
        core.requester.fail_all(core.failure)
        core.hub.close()
        core.notify()

    async def _step(self, now: float) -> float | None:
        """Send the most urgent thing, or return when to look again (``inf``: when woken)."""
        core, link = self.core, self.link
        if link.unsure(now):
            event = await link.resync(now)
            if event is not None:
                self.event_arrived(event, core.now())
            return None
        safety = core.safety
        assert safety is not None
        decision = core.plan.next(now, safety)
        for refusal in core.plan.take_refusals():
            core.stats.safety_refusals += 1
            core.error = refusal
        if not isinstance(decision, Wait):
            await self._carry_out(decision)
            return None
        wake_at = decision.at
        if core.plan.running and not core.auto_off_synced:
            # The device's own auto-off is the second line behind the policy's clock.
            core.auto_off_synced = True
            await link.request(SetAutoOff(safety.device_auto_off_s(now)))
            return None
        if core.plan.running:
            keepalive_at = self._keepalive_at()
            if now + EPS >= keepalive_at:
                await link.request(Keepalive())
                return None
            wake_at = min(wake_at, keepalive_at)
            interval = core.options.status_interval_s
            if interval is not None:
                status_at = core.last_status_at + interval
                if now + EPS >= status_at:
                    await link.request(GetStatus())
                    return None
                wake_at = min(wake_at, status_at)
        deadline = safety.next_deadline(now)
        if deadline is not None:
            wake_at = min(wake_at, max(deadline, now + MIN_WAIT_S))
        return wake_at

    def _keepalive_at(self) -> float:
        """When the next keepalive is due: a spread share of the interval after the last
        write (see :data:`KEEPALIVE_SPREAD`), drawn once per write from the device's own
        sequence."""
        core = self.core
        last = core.requester.last_write
        if last != self._keepalive_after:
            if self._pace is None:
                # Seeded by the device: different for each device, the same on every run
                # (a simulated session plays out alike each time).
                caps = core.caps
                self._pace = random.Random(f"{caps.model}/{caps.serial}" if caps else "")
            self._keepalive_after = last
            self._keepalive_gap = core.keepalive_s * self._pace.uniform(KEEPALIVE_SPREAD, 1)
        return last + self._keepalive_gap

    async def _carry_out(self, decision: SendHeat | SendZones | Upload) -> None:
        """Send what the plan decided and tell it the device's answer."""
        core, plan = self.core, self.core.plan
        command: Command
        if isinstance(decision, SendHeat):
            command = SetHeat(decision.target_c)
        elif isinstance(decision, SendZones):
            out = decision.output
            command = SetZones(
                decision.zones, out.level, out.waveform, out.period_s, decision.slot, out.phase_s
            )
        else:
            command = UploadPattern(decision.slot, decision.pattern)
        upload = isinstance(decision, Upload)

        def still_wanted() -> bool:
            # An upload changes no output: it need not wait until the device is surely on.
            return plan.still_wanted(decision) and (upload or self.link.still_sure())

        on_late: Callable[[Reply], None] | None = None
        if not isinstance(decision, Upload):
            keys: tuple[int | str, ...] = (
                ("heat",) if isinstance(decision, SendHeat) else decision.zones
            )
            for key in keys:
                self._newest[key] = decision

            def late(reply: Reply, decision: SendHeat | SendZones = decision) -> None:
                # The device ran it after all (a slow link): record the truth, unless a
                # newer command for the same output has gone out since.
                if reply.ok and all(self._newest.get(k) is decision for k in keys):
                    self._acknowledged(decision)
                    core.kick()

            on_late = late

        try:
            reply = await self.link.request(command, still_wanted, on_late)
        except DeviceRefused as exc:
            if isinstance(decision, SendHeat):
                plan.refused_heat()
            elif isinstance(decision, SendZones):
                plan.refused_zones(decision)
            else:
                plan.refused_upload(decision)
            core.error = exc
            return
        if reply is None:
            return
        # Acknowledged: the device runs it even if a stop overtook it meanwhile. Record
        # the truth; the stop that follows (or the next step) switches it off again.
        if isinstance(decision, Upload):
            core.stats.pattern_uploads += 1
            plan.uploaded(decision)
            return
        self._acknowledged(decision)

    def _acknowledged(self, decision: SendHeat | SendZones) -> None:
        core, plan = self.core, self.core.plan
        core.stats.output_commands += 1
        if isinstance(decision, SendHeat):
            plan.acknowledged_heat(decision)
        else:
            assert core.safety is not None
            # The policy times a ramp from the acknowledgement (when it was told).
            plan.acknowledged_zones(decision, core.now(), core.safety)
        core.outputs_changed()
