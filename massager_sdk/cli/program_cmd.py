"""``massager run`` and ``massager program list|show|validate|plot``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import TYPE_CHECKING, Any

from massager_sdk.cli.device_cmd import (
    DeviceStoppedItself,
    DeviceStopWatch,
    clean,
    health_profile,
    interrupted,
    is_signal_exit,
    open_device,
    stopped_by_device,
)
from massager_sdk.cli.exitcodes import ExitCode
from massager_sdk.cli.output import console, emit_json, is_terminal

if TYPE_CHECKING:
    from massager_sdk.capabilities import DeviceCapabilities
    from massager_sdk.programs import CompiledProgram, ProgramRunner, Progress

#: Keys that steer a running program on a terminal, and what they do.
KEYS = {"p": "pause/resume", "s": "skip step", "q": "stop"}


def run(args: argparse.Namespace) -> int:
    """Play a program on the device with a progress display; Ctrl-C stops the device."""
    from massager_sdk.cli.speed import device_speed, run_at_device_speed
    from massager_sdk.programs import compile_program, load_program

    program = load_program(args.program)
    device_speed(args)  # a bad --speed is refused before anything starts
    out = console()
    # Single keys need a terminal to read them from (termios: not on Windows).
    keys = sys.stdin.isatty() and not args.json and sys.platform != "win32"
    display = _Display(out, args.json, keys=keys)

    async def main() -> Any:
        from massager_sdk.control import Controller

        async with open_device(args, health_profile=person) as device:
            compiled = compile_program(program, device.info)
            if not args.json:
                for note in compiled.notes:
                    out.print(f"note: {note}", markup=False, highlight=False)
            control = Controller(device)
            stopped = DeviceStopWatch()
            unsubscribe = device.on_event(stopped.on_event)
            try:
                runner = await control.start_program(compiled, on_progress=display.update)
                # Before the program task first runs: no progress event comes earlier.
                display.start(program.title or program.name, runner.compiled)
                with _KeyReader(runner) if keys else contextlib.nullcontext():
                    final = await control.wait_program()
            finally:
                unsubscribe()
                await control.cancel()  # Ctrl-C: the runner stops the device
                control.close()
                display.stop()
            stopped.check(device.name)  # the runner ended early: say why, exit non-zero
            return final

    try:
        person = health_profile(args)
        final = run_at_device_speed(main(), args)
    except KeyboardInterrupt as exc:
        return interrupted(exc)
    except SystemExit as exc:
        if not is_signal_exit(exc):
            raise
        return interrupted(exc)
    except DeviceStoppedItself as exc:
        return stopped_by_device(exc)
    if not args.json:
        state = getattr(final, "state", "finished")
        out.print(f"peak levels: {display.program_peak_text}", markup=False, highlight=False)
        out.print(f"{program.name}: {state}; device stopped", markup=False, highlight=False)
    return ExitCode.OK


class _KeyReader:
    """Single keys on a terminal steer the runner: p pause/resume, s skip, q stop."""

    def __init__(self, runner: ProgramRunner) -> None:
        self._runner = runner
        self._fd = sys.stdin.fileno()
        self._saved: Any = None

    def __enter__(self) -> _KeyReader:
        import termios
        import tty

        self._saved = termios.tcgetattr(self._fd)
        tty.setcbreak(self._fd)  # keys arrive one by one, unechoed; Ctrl-C still signals
        asyncio.get_running_loop().add_reader(self._fd, self._on_key)
        return self

    def __exit__(self, *_: object) -> None:
        import termios

        asyncio.get_running_loop().remove_reader(self._fd)
        termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    def _on_key(self) -> None:
        import os

        key = os.read(self._fd, 1).decode(errors="replace").lower()
        press(self._runner, key)


def press(runner: ProgramRunner, key: str) -> bool:
    """Do what ``key`` asks of the runner (see :data:`KEYS`); whether it meant anything."""
    if key == "p":
        if runner.state == "paused":
            runner.resume()
        else:
            runner.pause("paused by the user (p)")
    elif key == "s":
        runner.skip()
    elif key == "q":
        runner.stop("stopped by the user (q)")
    else:
        return False
    return True


class _Display:
    """Progress as a live bar (terminal), plain lines (pipe) or JSON lines."""

    def __init__(self, out: Any, json_lines: bool, *, keys: bool = False) -> None:
        self._out = out
        self._json = json_lines
        self._keys = keys
        self._live: Any = None
        self._bar: Any = None
        self._task: Any = None
        self._last_step = -1
        self._last_line_s = 0.0
        self._compiled: CompiledProgram | None = None
        self._played_s = 0.0

    @property
    def program_peak(self) -> list[int]:
        """Each zone's highest level over the program time played (from its timeline)."""
        if self._compiled is None:
            return []
        return _peaks(self._compiled, 0.0, self._played_s)

    @property
    def program_peak_text(self) -> str:
        """:attr:`program_peak` zone by zone, e.g. ``left neck 7, right neck 7``."""
        names = self._compiled.timeline.zone_names if self._compiled is not None else ()
        peaks = zip(names, self.program_peak, strict=False)
        return ", ".join(f"{clean(n)} {v}" for n, v in peaks)

    def start(self, title: str, compiled: CompiledProgram) -> None:
        self._compiled = compiled
        total_s = compiled.duration_s
        if self._json or not is_terminal():
            return
        from rich.console import Group
        from rich.live import Live
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(),
        )
        self._task = self._bar.add_task(title, total=total_s)
        self._group = Group
        self._live = Live(self._bar, console=self._out, refresh_per_second=8)
        self._live.start()

    def update(self, progress: Progress) -> None:
        self._played_s = max(self._played_s, progress.elapsed_s)
        if self._json:
            emit_json(progress.to_dict())
            return
        if self._live is not None:
            from rich.table import Table
            from rich.text import Text

            self._bar.update(self._task, completed=progress.elapsed_s)
            detail = Table.grid(padding=(0, 2))
            state = "" if progress.state == "running" else f"  {progress.state.upper()}"
            detail.add_row(
                f"stage {progress.stage}",
                f"step {progress.step_index + 1}/{progress.steps}: {progress.technique}{state}",
            )
            names = self._compiled.timeline.zone_names if self._compiled else ()
            for name, level in zip(names, progress.intensities, strict=False):
                detail.add_row(Text(f"  {clean(name)}"), "#" * level + f" {level}")
            temp = progress.temperature_c
            detail.add_row(
                "heat",
                f"{_c(progress.heat_target_c)}  temp {_c(temp)}  "
                f"battery {_pct(progress.battery_pct)}",
            )
            if self._keys:
                keys = "  ".join(f"{k} {what}" for k, what in KEYS.items())
                resume = "  (paused: p resumes)" if progress.state == "paused" else ""
                detail.add_row("keys", keys + resume)
            self._live.update(self._group(self._bar, detail))
            return
        # Plain output: a line per step, and every 15 s of program time within one,
        # with each zone's peak since the last line (the timeline's, not samples:
        # levels swing within a second).
        if (
            progress.step_index != self._last_step
            or progress.state != "running"
            or progress.elapsed_s - self._last_line_s >= 15
        ):
            self._last_step = progress.step_index
            peak = (
                _peaks(self._compiled, self._last_line_s, progress.elapsed_s)
                if self._compiled is not None
                else list(progress.intensities)
            )
            self._last_line_s = progress.elapsed_s
            self._out.print(
                f"{progress.elapsed_s:7.1f}s  {progress.state:<9} {progress.stage} / "
                f"{progress.technique}  peak levels {' '.join(str(v) for v in peak)}"
                f"  heat {_c(progress.heat_target_c)}  temp {_c(progress.temperature_c)}",
                markup=False,
                highlight=False,
            )

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def _peaks(compiled: CompiledProgram, start_s: float, end_s: float) -> list[int]:
    """Each zone's highest level between program times ``start_s`` and ``end_s``."""
    out = []
    for zone, changes in enumerate(compiled.timeline.outputs):
        levels = [compiled.timeline.level_at(zone, start_s)]
        levels += [o.level for t, o in changes if start_s < t <= end_s]
        out.append(max(levels))
    return out


def _c(value: float | None) -> str:
    return "off" if value is None else f"{value:.1f} C"


def _pct(value: int | None) -> str:
    return "mains" if value is None else f"{value}%"


# -- program ---------------------------------------------------------------------


def program_list(args: argparse.Namespace) -> int:
    """The built-in programs."""
    from massager_sdk.programs import list_programs

    programs = list_programs()
    if args.json:
        emit_json(
            [
                {
                    "name": p.name,
                    "title": p.title,
                    "description": p.description,
                    "duration_s": p.duration_s,
                    "stages": list(p.stages),
                    "techniques": list(p.techniques),
                }
                for p in programs
            ]
        )
        return ExitCode.OK
    from rich.table import Table

    table = Table(title="built-in programs")
    for column in ("name", "length", "title", "techniques"):
        table.add_column(column)
    for p in programs:
        table.add_row(p.name, _minutes(p.duration_s), p.title, ", ".join(p.techniques))
    console().print(table)
    return ExitCode.OK


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def program_show(args: argparse.Namespace) -> int:
    """A program's stages and steps."""
    from massager_sdk.programs import load_program

    program = load_program(args.program)
    if args.json:
        emit_json(
            {
                "name": program.name,
                "title": program.title,
                "description": program.description,
                "duration_s": program.duration_s,
                "source": program.source,
                "stages": [
                    {
                        "name": stage.name,
                        "title": stage.title,
                        "steps": [
                            {
                                "name": step.name,
                                "technique": step.technique,
                                "duration_s": step.duration_s,
                                "cycles": step.cycles,
                                "intensity": step.intensity,
                                "zones": list(step.zones),
                                "heat_c": step.heat_c,
                                "params": dict(step.params),
                            }
                            for step in stage.steps
                        ],
                    }
                    for stage in program.stages
                ],
            }
        )
        return ExitCode.OK
    out = console()
    out.print(f"{program.name}: {program.title} ({_minutes(program.duration_s)})", markup=False)
    if program.description:
        out.print(program.description, markup=False)
    for stage in program.stages:
        out.print(f"  {stage.name} ({_minutes(stage.duration_s)})", markup=False)
        for step in stage.steps:
            extra = f", heat {step.heat_c:g} C" if step.heat_c else ""
            out.print(
                f"    {_minutes(step.duration_s)}  {step.technique}{extra}",
                markup=False,
                highlight=False,
            )
    return ExitCode.OK


def program_validate(args: argparse.Namespace) -> int:
    """Check a program file or built-in program; exit 1 with the problems when invalid."""
    import dataclasses

    from massager_sdk.programs import ProgramError, load_program

    try:
        program = load_program(args.file)  # a built-in name, as `show` and `run` take
    except ProgramError as exc:
        if args.json:
            emit_json(
                {
                    "valid": False,
                    "file": args.file,
                    "error": str(exc),
                    "problems": [dataclasses.asdict(p) for p in exc.problems],
                }
            )
        else:
            print(f"massager: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    if args.json:
        emit_json(
            {"valid": True, "file": args.file, "duration_s": program.duration_s, "problems": []}
        )
    else:
        console().print(
            f"{args.file}: valid ({program.name}, {_minutes(program.duration_s)})", markup=False
        )
    return ExitCode.OK


def program_plot(args: argparse.Namespace) -> int:
    """Plot intensity per zone and heat over time for a simulated model's capabilities."""
    from massager_sdk.programs import compile_program, load_program, plot_program

    program = load_program(args.program)
    caps = asyncio.run(_model_capabilities(args.model))
    path = plot_program(compile_program(program, caps), args.output)
    console().print(f"wrote {path}", markup=False)
    return ExitCode.OK


async def _model_capabilities(model: str) -> DeviceCapabilities:
    import massager_sdk

    # `--model neck2` and `--model sim://neck2` both name the simulated neck2.
    async with massager_sdk.connect(f"sim://{model.removeprefix('sim://')}") as device:
        return device.info
