"""One device under control, the same for every face (CLI, MQTT bridge, scripts).

A :class:`Controller` takes :class:`~massager_sdk.control.request.ControlRequest`
values and carries them out on its :class:`~massager_sdk.client.Device`:

- a request is checked whole (capabilities, then the safety policy) before any
  part is sent (:func:`~massager_sdk.control.request.plan_outputs`);
- manual settings and a program do not fight: while a program plays, a request
  that sets outputs by hand is refused until the program is paused or stopped;
- programs start, pause, resume, skip and stop here, and end on their own when
  the device stops without being asked (its button, auto-off, another host's
  stop: :attr:`EventKind.ends_program <massager_sdk.model.EventKind.ends_program>`);
  a program that ended never switches the device on again;
- :meth:`Controller.emergency_stop` is never refused and never queued;
- :meth:`Controller.state` is the one state document
  (:class:`~massager_sdk.control.state.DeviceState`).

The outputs shown are the running program's, else those the device
acknowledged (:attr:`Device.acknowledged`); a checked request is shown from the
moment it is scheduled until the device has acknowledged all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from massager_sdk.control.errors import ControlError
from massager_sdk.control.request import ControlRequest, OutputChange, plan_outputs
from massager_sdk.control.state import NO_PROGRAM, DeviceState, Outputs, ProgramView, zone_keys
from massager_sdk.model import DeviceEvent

if TYPE_CHECKING:
    from massager_sdk.client import Device
    from massager_sdk.programs import CompiledProgram, Program, ProgramRunner, Progress

_log = logging.getLogger("massager_sdk.control")

#: Finds a program by name (the bridge's folder and the built-in ones, say).
ProgramSource = Callable[[str], "Program"]


class Controller:
    """Carries out control requests on one connected device.

    ``programs`` finds a program by name (default: the built-in programs and
    program files, as ``load_program`` does). ``on_change`` is called (no
    arguments) whenever the state may have changed; ``on_program_error`` with
    the words of an error that ended a program.
    """

    def __init__(
        self,
        device: Device,
        *,
        programs: ProgramSource | None = None,
        on_change: Callable[[], object] | None = None,
        on_program_error: Callable[[str], object] | None = None,
    ) -> None:
        self.device = device
        self._programs = programs
        self._on_change = on_change
        self._on_program_error = on_program_error
        self.zone_keys = zone_keys([z.name for z in device.info.zones])
        self.runner: ProgramRunner | None = None
        self.progress: Progress | None = None
        #: Why the last program ended (``None`` while one plays or before any did).
        self.program_ended: str | None = None
        self._task: asyncio.Task[Progress | None] | None = None
        self._asked: Outputs | None = None  # what a manual request asked, until acknowledged
        self._last_on_level = 1
        self._unsubscribe = device.on_event(self._on_event)

    def close(self) -> None:
        """Stop following the device's events (the program, if any, is stopped by the caller)."""
        self._unsubscribe()

    # -- what is shown ---------------------------------------------------------------

    def program_running(self) -> bool:
        """Whether a program plays (or is paused)."""
        return self._task is not None and not self._task.done()

    def outputs(self) -> Outputs:
        """The outputs now: the program's; else a checked request while the device has
        not acknowledged all of it (not the safety ramp's steps toward it); else what
        the device acknowledged (:attr:`Device.acknowledged`)."""
        progress = self.progress
        if progress is not None:
            if progress.state == "paused":
                return Outputs((0,) * len(self.zone_keys), None)
            return Outputs(progress.intensities, progress.heat_target_c)
        return self._current()

    def state(
        self, *, online: bool | None = None, last_refusal: str | None = None, safety: bool = True
    ) -> DeviceState:
        """The one state document of the device now."""
        device = self.device
        progress = self.progress
        program = None
        if progress is not None:
            program = ProgramView(
                name=progress.program,
                paused=progress.state == "paused",
                elapsed_s=progress.elapsed_s,
                duration_s=progress.total_s,
                stage=progress.stage,
            )
        snapshot = None
        if safety:
            snapshot = device.safety.snapshot(asyncio.get_running_loop().time()).to_dict()
        return DeviceState(
            device.last_status,
            self.zone_keys,
            outputs=self.outputs(),
            program=program,
            safety=snapshot,
            online=device.connected if online is None else online,
            last_refusal=last_refusal,
        )

    # -- requests --------------------------------------------------------------------

    async def apply(self, request: ControlRequest) -> None:
        """Carry out ``request``: checked whole first; raises :class:`ControlError`,
        :class:`~massager_sdk.errors.SafetyRefusal` or a device error, with nothing
        of the request applied when a check refuses it."""
        if request.action is not None:
            runner = self.runner
            if runner is None or not self.program_running():
                raise ControlError(
                    "no program is running",
                    field=request.action,
                    accepted='start one first, e.g. {"program": "classic"}',
                    kind="no_program",
                )
            getattr(runner, request.action)()
            return
        if self.program_running() and request.sets_outputs and request.program != NO_PROGRAM:
            raise ControlError(
                "a program is running and sets intensity and heat itself",
                accepted='pause it, or stop it first with {"program": "none"}',
                kind="program_running",
            )
        plain_on = request.on and not request.ends_program and not request.sets_outputs
        if plain_on and self.program_running():
            return  # on already: the program plays
        if request.on or request.starts_program:
            self.lift_emergency_stop()  # an explicit start is the request to go on
        if request.ends_program:
            await self.stop_program("stopped by request")
        if request.starts_program:
            assert request.program is not None
            await self.start_program(request.program)
            return
        if request.sets_outputs or request.on:
            await self.set_outputs(request)

    def lift_emergency_stop(self) -> None:
        """Allow outputs again after an emergency stop, if one is in force."""
        device = self.device
        if device.safety.snapshot(asyncio.get_running_loop().time()).emergency_stopped:
            device.resume()

    def _current(self) -> Outputs:
        """What a new request builds on: what was asked while the device has not
        acknowledged all of it, else what it acknowledged."""
        if self._asked is not None and self.device.pending_outputs:
            return self._asked
        told = self.device.acknowledged
        return Outputs(told.levels, told.heat_c)

    def check(self, request: ControlRequest) -> OutputChange:
        """What ``request`` would send, checked whole; raises as :meth:`apply` would."""
        device = self.device
        return plan_outputs(
            request,
            self._current(),
            device.info,
            device.safety,
            asyncio.get_running_loop().time(),
            last_on_level=self._last_on_level,
        )

    async def set_outputs(self, request: ControlRequest) -> Outputs:
        """Apply intensity, zones, their shape and heat together: all checked before any
        is sent (the shaped zones go first: a device refusing a pattern leaves the rest
        unsent).

        Returns the outputs asked for; :meth:`wait_acknowledged` waits for them.
        """
        device = self.device
        current = self._current()
        change = self.check(request)
        wanted = change.outputs
        self._asked = wanted
        shape = change.shape
        try:
            for level, zones in change.shaped:
                assert shape is not None
                if shape.pattern is not None:
                    await device.play_pattern(shape.pattern, zones, intensity=level)
                else:
                    await device.set_intensity(
                        level, zones, waveform=shape.waveform, period=shape.period
                    )
            for level, zones in change.groups:
                await device.set_intensity(level, zones)
            if change.heat_changes:
                await device.set_heat(wanted.heat_target_c)
        except BaseException:
            self._asked = None
            # Everything was checked, so this is the link failing half-way: put back what
            # was scheduled (best effort; the policy still checks each level).
            for zone, level in enumerate(current.levels):
                if level != wanted.levels[zone]:
                    with contextlib.suppress(Exception):
                        await device.set_intensity(level, [zone])
            raise
        finally:
            self._changed()
        if any(wanted.levels):
            self._last_on_level = max(wanted.levels)
        return wanted

    async def wait_acknowledged(self) -> None:
        """Wait until the device acknowledged everything asked (:meth:`Device.flush`)."""
        try:
            await self.device.flush()
        finally:
            self._changed()

    # -- stops -----------------------------------------------------------------------

    async def stop(self, reason: str = "stop requested") -> None:
        """End the program, if one plays, and stop the device."""
        self._end_program(reason)
        self._asked = None
        try:
            await self.device.stop()
        finally:
            self._changed()

    async def emergency_stop(self, reason: str = "emergency stop requested") -> None:
        """Stop now and keep outputs refused until a start or :meth:`Device.resume`."""
        self._asked = None
        self._end_program(reason)
        try:
            await self.device.emergency_stop(reason)
        finally:
            self._changed()

    # -- programs --------------------------------------------------------------------

    def compile(self, name: str) -> CompiledProgram:
        """The program ``name`` compiled for this device."""
        from massager_sdk.programs import compile_program, load_program

        program = self._programs(name) if self._programs is not None else load_program(name)
        return compile_program(program, self.device.info)

    async def start_program(
        self,
        program: str | CompiledProgram,
        *,
        on_progress: Callable[[Progress], object] | None = None,
    ) -> ProgramRunner:
        """Start ``program`` (a name or a compiled program), ending the one that plays."""
        from massager_sdk.programs import ProgramRunner

        await self.stop_program("another program started")
        compiled = self.compile(program) if isinstance(program, str) else program
        runner = ProgramRunner(self.device, compiled)
        self.runner = runner
        self.progress = runner.progress()
        self.program_ended = None
        self._asked = None
        self._task = asyncio.get_running_loop().create_task(self._play(runner, on_progress))
        self._changed()
        return runner

    async def stop_program(self, reason: str = "stopped") -> None:
        """Stop the running program (the device is left stopped) and wait until it ended."""
        task = self._task
        if task is None or task.done():
            return
        self._end_program(reason)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    async def wait_program(self) -> Progress | None:
        """Wait until the program ends; its last progress (raises what ended it, if an error)."""
        task = self._task
        return None if task is None else await task

    async def cancel(self) -> None:
        """Cancel the program task (when the face goes away); the runner stops the device."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _end_program(self, reason: str) -> None:
        runner = self.runner
        if runner is not None and self.program_running():
            runner.stop(reason)

    async def _play(
        self, runner: ProgramRunner, on_progress: Callable[[Progress], object] | None
    ) -> Progress | None:
        name = runner.compiled.program.name

        def progressed(progress: Progress) -> object:
            if self.runner is runner:
                self.progress = progress if progress.state in ("running", "paused") else None
                if progress.state in ("stopped", "completed"):
                    self.program_ended = progress.reason or progress.state
                self._changed()
            return on_progress(progress) if on_progress is not None else None

        try:
            return await runner.run(on_progress=progressed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.program_ended = f"program {name} ended: {exc}"
            if self._on_program_error is None:
                raise
            self._on_program_error(self.program_ended)
            return None
        finally:
            if self.runner is runner:
                self.runner = None
                self.progress = None
                self._changed()

    # -- events ----------------------------------------------------------------------

    def _on_event(self, event: DeviceEvent) -> None:
        if event.kind.invalidates_outputs and event.raised:
            self._asked = None  # the device is off (or its heat is): never put it back
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
