"""``massager run`` and ``massager program list|show|validate|plot``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

from massager_sdk.cli.device_cmd import open_device
from massager_sdk.cli.exitcodes import ExitCode
from massager_sdk.cli.output import console, emit_json, is_terminal

if TYPE_CHECKING:
    from massager_sdk.capabilities import DeviceCapabilities
    from massager_sdk.programs import Progress


def run(args: argparse.Namespace) -> int:
    """Play a program on the device with a progress display; Ctrl-C stops the device."""
    from massager_sdk.cli.speed import device_speed, run_at_device_speed
    from massager_sdk.programs import ProgramRunner, compile_program, load_program

    program = load_program(args.program)
    device_speed(args)  # a bad --speed is refused before anything starts
    out = console()
    display = _Display(out, args.json)

    async def main() -> Any:
        async with open_device(args, outputs=True) as device:
            compiled = compile_program(program, device.info)
            if not args.json:
                for note in compiled.notes:
                    out.print(f"note: {note}", markup=False, highlight=False)
            display.start(program.title or program.name, compiled.duration_s)
            try:
                return await ProgramRunner(device, compiled).run(on_progress=display.update)
            finally:
                display.stop()

    try:
        final = run_at_device_speed(main(), args)
    except KeyboardInterrupt:
        print("interrupted: device stopped", file=sys.stderr)
        return ExitCode.INTERRUPTED
    if not args.json:
        state = getattr(final, "state", "finished")
        out.print(f"{program.name}: {state}; device stopped", markup=False, highlight=False)
    return ExitCode.OK


class _Display:
    """Progress as a live bar (terminal), plain lines (pipe) or JSON lines."""

    def __init__(self, out: Any, json_lines: bool) -> None:
        self._out = out
        self._json = json_lines
        self._live: Any = None
        self._bar: Any = None
        self._task: Any = None
        self._last_step = -1
        self._last_line_s = 0.0
        self._peak: list[int] = []

    def start(self, title: str, total_s: float) -> None:
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
        if self._json:
            emit_json(progress.to_dict())
            return
        if self._live is not None:
            from rich.table import Table

            self._bar.update(self._task, completed=progress.elapsed_s)
            detail = Table.grid(padding=(0, 2))
            detail.add_row(
                f"stage {progress.stage}",
                f"step {progress.step_index + 1}/{progress.steps}: {progress.technique}",
            )
            temp = progress.temperature_c
            detail.add_row(
                "levels " + " ".join(str(v) for v in progress.intensities),
                f"heat {_c(progress.heat_target_c)}  temp {_c(temp)}  "
                f"battery {_pct(progress.battery_pct)}",
            )
            self._live.update(self._group(self._bar, detail))
            return
        # Plain output: a line per step, and every 15 s of program time within one,
        # with each zone's peak since the last line (levels swing within seconds).
        self._peak = [max(pair) for pair in zip(self._peak, progress.intensities, strict=False)]
        self._peak += list(progress.intensities[len(self._peak) :])
        if (
            progress.step_index != self._last_step
            or progress.state != "running"
            or progress.elapsed_s - self._last_line_s >= 15
        ):
            self._last_step = progress.step_index
            self._last_line_s = progress.elapsed_s
            self._out.print(
                f"{progress.elapsed_s:7.1f}s  {progress.state:<9} {progress.stage} / "
                f"{progress.technique}  peak levels {' '.join(str(v) for v in self._peak)}"
                f"  heat {_c(progress.heat_target_c)}  temp {_c(progress.temperature_c)}",
                markup=False,
                highlight=False,
            )
            self._peak = []

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


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
    """Check a program file; exit 1 with the problem when it is invalid."""
    from massager_sdk.programs import ProgramError, validate_file

    try:
        program = validate_file(args.file)
    except ProgramError as exc:
        if args.json:
            emit_json({"valid": False, "file": args.file, "error": str(exc)})
        else:
            print(f"massager: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    if args.json:
        emit_json({"valid": True, "file": args.file, "duration_s": program.duration_s})
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

    async with massager_sdk.connect(f"sim://{model}") as device:
        return device.info
