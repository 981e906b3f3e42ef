"""Play a compiled program on a device, on time.

Timing: every command is due at an absolute instant, ``origin + at``, on the
running event loop's clock (``loop.time()``), so waiting never accumulates
error: a late command makes the next wait shorter, and there is no drift.
The wait is the loop's own timer (``loop.call_at`` at the deadline), so the
runner never holds the event loop: other devices, the MQTT bridge and
telemetry go on while it waits. A wake-up is late by the loop's timer
resolution (the selector rounds its timeout up to a whole millisecond), the
work the loop is doing when the deadline passes, and the scheduler's delay;
that is well below the shortest BLE connection interval (7.5 ms), which decides
when a write reaches the device anyway (``docs/performance.md``, "Programs").
With many runners in one process (a bridge), a runner issues its command as
soon as it wakes and reports progress after the others due at the same moment
have issued theirs; the compiled program is shared by alike devices
(:func:`~massager_sdk.programs.compiler.compile_program`), so a fleet does not
fill the heap that each full garbage collection scans while every runner waits
(``docs/performance.md``, "MQTT bridge at fleet scale"). On the virtual clock of
tests the timer fires exactly at the deadline.

Control: :meth:`ProgramRunner.pause` stops the device and freezes the program
clock; :meth:`~ProgramRunner.resume` brings the device back to what the program
does at that point and goes on; :meth:`~ProgramRunner.skip` jumps to the next
step; :meth:`~ProgramRunner.stop` stops the device and ends :meth:`~ProgramRunner.run`.

Link loss: the client decides (it reconnects within a grace period, or gives
up). The runner follows what the client reports: a ``LINK_LOST`` event pauses
the program (without a stop command: the device's watchdog has stopped it), a
``LINK_RESTORED`` event resumes it, and a :class:`~massager_sdk.errors.ConnectionFailed`
from a command (the client gave up) ends the run with that error. A press of
the device's button, its auto-off or shutdown, and a safety stop end the run.
Whatever ends the run, the device is left stopped.

Safety: when the device has a safety policy (``device.safety.zone_max``), a
program that goes above a zone's allowed level is recompiled with its levels
held there (:attr:`ProgramRunner.compiled`, with a note), so the policy never
has to refuse a command halfway through. A refused heat target lets the
program play on without heat.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import inspect
import math
import warnings
from collections.abc import Callable
from typing import Any, Literal

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.errors import ConnectionFailed, SafetyRefusal
from massager_sdk.model import DeviceEvent, EventKind
from massager_sdk.programs.commands import (
    Command,
    Emitter,
    ProgramDevice,
    SetHeat,
    Stop,
    send,
)
from massager_sdk.programs.compiler import CompiledProgram, compile_program
from massager_sdk.programs.errors import Problem, ProgramError
from massager_sdk.programs.program import SESSION_LIMIT_S

#: Deadlines this close count as reached (a float clock cannot always land exactly).
_CLOSE_S = 1e-7
#: The device's auto-off is set this long past the program's end.
AUTO_OFF_MARGIN_S = 30

State = Literal["ready", "running", "paused", "stopped", "completed"]


async def sleep_until(deadline: float, *, spin_s: float | None = None) -> None:
    """Wait until ``loop.time() >= deadline``, on the loop's own timer (the loop is never held).

    ``spin_s`` is deprecated and ignored: no part of the wait is spent off the loop.
    """
    if spin_s is not None:
        _spin_deprecated(stacklevel=3)
    loop = asyncio.get_running_loop()
    while deadline - loop.time() > _CLOSE_S:
        waiter: asyncio.Future[None] = loop.create_future()
        # call_at the deadline itself (not call_later of a fresh difference): no drift.
        handle = loop.call_at(deadline, _wake, waiter)
        try:
            await waiter
        finally:
            handle.cancel()


def _spin_deprecated(stacklevel: int) -> None:
    warnings.warn(
        "spin_s is ignored and will be removed: the runner waits on the loop's timer alone",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Progress:
    """Where a running program is; ``to_dict()`` gives it as JSON-ready values."""

    state: State
    reason: str  #: why it paused or stopped ("" otherwise)
    program: str
    stage: str
    stage_index: int
    step: str
    step_index: int  #: 0-based across the whole program
    steps: int
    technique: str
    elapsed_s: float  #: program time played
    remaining_s: float
    total_s: float
    intensities: tuple[int, ...]  #: levels last commanded, per zone (a pattern's scale)
    heat_target_c: float | None  #: heater target last commanded
    temperature_c: float | None  #: from the device's last status
    battery_pct: int | None  #: from the device's last status

    def to_dict(self) -> dict[str, Any]:
        """The event as a dict of JSON types."""
        out = dataclasses.asdict(self)
        out["intensities"] = list(self.intensities)
        return out


ProgressCallback = Callable[[Progress], object]


class ProgramRunner:
    """Plays one compiled program on one device.

    ``device`` is the SDK's client (or anything with the :class:`ProgramDevice`
    methods). ``progress_interval_s`` is how often (program time) a progress
    event is reported besides those at each step, pause, resume and end.
    """

    def __init__(
        self,
        device: ProgramDevice,
        compiled: CompiledProgram,
        *,
        progress_interval_s: float = 1.0,
        spin_s: float | None = None,
    ) -> None:
        caps = device.info
        mismatch = _mismatch(compiled, caps)
        if mismatch:
            raise ProgramError(
                Problem(
                    f"compiled for {compiled.caps.model}, but the device is {caps.model}: "
                    f"{mismatch}",
                    file=compiled.program.source,
                    allowed="a program compiled with this device's capabilities",
                )
            )
        maxima = _safety_maxima(device)
        if maxima is not None and any(
            out.level > ceiling
            for changes, ceiling in zip(compiled.timeline.outputs, maxima, strict=True)
            for _, out in changes
        ):
            # Held to what the safety policy allows, rather than refused mid-program.
            compiled = compile_program(compiled.program, compiled.caps, zone_max=maxima)
        if not progress_interval_s > 0:
            raise ValueError(f"progress_interval_s must be positive, got {progress_interval_s!r}")
        self.device = device
        self.compiled = compiled
        self.progress_interval_s = progress_interval_s
        if spin_s is not None:
            _spin_deprecated(stacklevel=3)
        self._state: State = "ready"
        self._reason = ""
        self._position = 0.0
        self._origin: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._emitter = Emitter(len(caps.zones))
        self._requests: list[tuple[str, str]] = []
        self._waiter: asyncio.Future[None] | None = None
        self._link_paused = False
        self._heat_refused = False

    # ------------------------------------------------------------------
    # control (from any task or callback on the loop)
    # ------------------------------------------------------------------

    @property
    def state(self) -> State:
        """``ready``, ``running``, ``paused``, ``stopped`` or ``completed``."""
        return self._state

    @property
    def origin(self) -> float | None:
        """The loop time at which program time 0 falls (moves on pause, resume and skip)."""
        return self._origin

    @property
    def position(self) -> float:
        """Program time played, in seconds."""
        if self._state == "running" and self._origin is not None and self._loop is not None:
            now = self._loop.time()
            return min(max(0.0, now - self._origin), self.compiled.duration_s)
        return self._position

    def pause(self, reason: str = "paused") -> None:
        """Stop the device and hold the program clock until :meth:`resume`."""
        self._request("pause", reason)

    def resume(self) -> None:
        """Go on from where the program was paused."""
        self._request("resume", "")

    def skip(self) -> None:
        """Jump to the start of the next step (to the end after the last one)."""
        self._request("skip", "")

    def stop(self, reason: str = "stopped") -> None:
        """Stop the device and end :meth:`run`."""
        self._request("stop", reason)

    def handle_event(self, event: DeviceEvent) -> None:
        """React to a device or link event (the runner subscribes to the client's events)."""
        if event.kind is EventKind.LINK_LOST and event.raised:
            if self._state == "running":
                self._link_paused = True
                self._request("link-lost", "link lost")
        elif event.kind is EventKind.LINK_RESTORED or (
            event.kind is EventKind.LINK_LOST and event.active is False
        ):
            if self._link_paused:
                self._link_paused = False
                self._request("resume", "")
        elif event.kind.ends_program and event.raised:
            detail = f": {event.detail}" if event.detail else ""
            self._request("stop", f"{event.kind.value.replace('_', ' ')}{detail}")

    def _request(self, what: str, reason: str) -> None:
        self._requests.append((what, reason))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # ------------------------------------------------------------------
    # progress
    # ------------------------------------------------------------------

    def progress(self) -> Progress:
        """A progress event for now."""
        timeline = self.compiled.timeline
        position = self.position
        span = timeline.span_at(position)
        status = self.device.last_status
        return Progress(
            state=self._state,
            reason=self._reason,
            program=self.compiled.program.name,
            stage=span.stage,
            stage_index=span.stage_index,
            step=span.name,
            step_index=span.index,
            steps=len(timeline.spans),
            technique=span.technique,
            elapsed_s=round(position, 3),
            remaining_s=round(timeline.duration_s - position, 3),
            total_s=timeline.duration_s,
            intensities=tuple(o.level for o in self._emitter.outputs),
            heat_target_c=self._emitter.heat,
            temperature_c=status.temperature_c if status is not None else None,
            battery_pct=status.battery_pct if status is not None else None,
        )

    # ------------------------------------------------------------------
    # playing
    # ------------------------------------------------------------------

    async def run(self, on_progress: ProgressCallback | None = None) -> Progress:
        """Play the program to its end (or until stopped); returns the last progress event.

        ``on_progress`` (a function or coroutine function) receives every
        progress event. Errors from the device end the run and are raised after
        the device is stopped.
        """
        if self._state != "ready":
            raise RuntimeError(f"a runner plays once; this one is {self._state}")
        loop = self._loop = asyncio.get_running_loop()
        subscribe = getattr(self.device, "on_event", None)
        unsubscribe = subscribe(self.handle_event) if callable(subscribe) else None

        async def report() -> Progress:
            event = self.progress()
            if on_progress is not None:
                result = on_progress(event)
                if inspect.isawaitable(result):
                    await result
            return event

        try:
            await self._set_auto_off()
            self._state = "running"
            self._origin = loop.time()
            await report()
            await self._play(loop, report)
            return await report()
        except BaseException as error:
            if self._state not in ("stopped", "completed"):
                self._position = self.position  # before the state changes: it reads the clock
                self._state = "stopped"
                self._reason = _describe(error)
            await self._stop_device()
            if not isinstance(error, asyncio.CancelledError):
                with contextlib.suppress(Exception):
                    await report()
            raise
        finally:
            if callable(unsubscribe):
                unsubscribe()

    async def _play(self, loop: asyncio.AbstractEventLoop, report: Callable[[], Any]) -> None:
        commands = self.compiled.commands
        times = [c.at for c in commands]
        timeline = self.compiled.timeline
        k = 0
        step = 0
        next_tick = self.progress_interval_s
        while True:
            if self._requests:
                what, reason = self._requests.pop(0)
                if await self._control(loop, what, reason, report):
                    return
                # The final stop is always played, even after a skip past the end.
                k = min(bisect.bisect_right(times, self._position), len(times) - 1)
                step = timeline.span_at(self._position).index
                next_tick = self._position + self.progress_interval_s
                continue
            if self._state == "paused":
                await self._wait_until(loop, math.inf)  # until resume, skip or stop
                continue
            assert self._origin is not None
            due_command = times[k] if k < len(times) else math.inf
            due = min(due_command, next_tick)
            await self._wait_until(loop, self._origin + due)
            if self._requests:
                continue
            if due_command <= due:
                timed = commands[k]
                await self._send(timed.command, timed.at)
                k += 1
                if isinstance(timed.command, Stop) and k == len(commands):
                    self._state = "completed"
                    self._position = self.compiled.duration_s
                    return
            else:
                next_tick += self.progress_interval_s
                await report()
                continue
            now_step = timeline.span_at(self.position).index
            if now_step != step:
                step = now_step
                # Commands first: other runners due now issue theirs before this report
                # (and the state it publishes) is made.
                await asyncio.sleep(0)
                await report()

    async def _control(
        self,
        loop: asyncio.AbstractEventLoop,
        what: str,
        reason: str,
        report: Callable[[], Any],
    ) -> bool:
        """Carry out one request; whether the run is over."""
        if what == "stop":
            self._position = self.position
            self._state = "stopped"
            self._reason = reason
            await self._stop_device()
            return True
        if what in ("pause", "link-lost"):
            if self._state == "running":
                self._position = self.position
                self._state = "paused"
                self._reason = reason
                if what == "pause":
                    await self._send(Stop(), self._position)
                else:  # the device's watchdog has stopped it; nothing can be sent
                    self._emitter.record(Stop(), self._position)
                await report()
            return False
        if what == "skip":
            following = [s.start_s for s in self.compiled.timeline.spans]
            later = [t for t in following if t > self.position + 1e-9]
            self._position = later[0] if later else self.compiled.duration_s
            if self._state == "paused":
                await report()
                return False
        elif self._state != "paused":
            return False  # resume while running: nothing to do
        self._state = "running"
        self._reason = ""
        self._origin = loop.time() - self._position
        await self._resync()
        await report()
        return False

    async def _resync(self) -> None:
        """Bring the device to what the timeline does at the current position."""
        outputs, heat = self.compiled.timeline.state_at(self._position)
        while True:
            command = self._emitter.next(outputs, heat, self._position)
            if command is None:
                return
            await self._send(command, self._position, recorded=True)

    async def _send(self, command: Command, at: float, *, recorded: bool = False) -> None:
        if isinstance(command, SetHeat) and self._heat_refused:
            return
        try:
            await send(self.device, command)
        except SafetyRefusal as refusal:
            if not isinstance(command, SetHeat):
                raise
            # Heat refused (a screening answer, the thermal dose): play on without it.
            self._heat_refused = True
            self._reason = f"heat refused: {refusal}"
            self._emitter.heat = None
            return
        if not recorded:
            self._emitter.record(command, at)

    async def _wait_until(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Wait for ``deadline`` (loop time) or a control request, whichever is first.

        On the loop's timer, set for the deadline itself (see :func:`sleep_until`).
        """
        while not self._requests and deadline - loop.time() > _CLOSE_S:
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiter = waiter
            handle = loop.call_at(deadline, _wake, waiter) if math.isfinite(deadline) else None
            try:
                await waiter
            finally:
                if handle is not None:
                    handle.cancel()
                self._waiter = None

    async def _set_auto_off(self) -> None:
        """Have the device switch itself off shortly after the program's end."""
        set_auto_off = getattr(self.device, "set_auto_off", None)
        if not callable(set_auto_off):
            return
        caps = self.device.info
        seconds = math.ceil(self.compiled.duration_s) + AUTO_OFF_MARGIN_S
        seconds = min(seconds, SESSION_LIMIT_S, caps.auto_off_max_s or SESSION_LIMIT_S)
        await set_auto_off(seconds)

    async def _stop_device(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.shield(self.device.stop())
        self._emitter.record(Stop(), self._position)


def _mismatch(compiled: CompiledProgram, caps: DeviceCapabilities) -> str:
    """Why ``compiled`` cannot play on a device with ``caps`` ("" when it can)."""
    made = compiled.caps
    if len(made.zones) != len(caps.zones):
        return f"{len(made.zones)} zones, not {len(caps.zones)}"
    if made.intensity_steps != caps.intensity_steps:
        return f"{made.intensity_steps} steps, not {caps.intensity_steps}"
    if compiled.patterns and not caps.supports_patterns:
        return "it loops patterns, which this device cannot"
    if caps.heat is None and any(t is not None for _, t in compiled.timeline.heat):
        return "it heats, and this device has no heater"
    return ""


def _safety_maxima(device: ProgramDevice) -> tuple[int, ...] | None:
    """Each zone's highest level under the device's safety policy, if it has one.

    A zone the policy closes entirely (0) is left alone: its first command then
    raises the policy's own refusal, which says why.
    """
    try:
        zone_max = getattr(getattr(device, "safety", None), "zone_max", None)
    except RuntimeError:  # a client not connected yet
        return None
    if not callable(zone_max):
        return None
    steps = device.info.intensity_steps
    levels = []
    for zone in range(len(device.info.zones)):
        level = zone_max(zone)
        levels.append(level if isinstance(level, int) and level > 0 else steps)
    return tuple(levels)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _describe(error: BaseException) -> str:
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, ConnectionFailed):
        return f"link lost: {error}"
    return f"{type(error).__name__}: {error}"
