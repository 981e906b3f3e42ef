"""Massage programs: techniques -> program files -> timeline -> device commands, played on time.

    from massager_sdk.programs import compile_program, load_program, ProgramRunner

    program = load_program("classic")             # a built-in, or a path to a .toml file
    async with massager_sdk.connect() as device:
        compiled = compile_program(program, device.info)
        await ProgramRunner(device, compiled).run(on_progress=print)

``docs/programs.md`` describes the techniques, the file format and the figures
behind every default; ``docs/program.schema.json`` is the file format's schema.
"""

from massager_sdk.programs.commands import (
    Command,
    Emitter,
    Output,
    PlayPattern,
    ProgramDevice,
    SetHeat,
    SetIntensity,
    Stop,
    TimedCommand,
)
from massager_sdk.programs.compiler import (
    CompiledProgram,
    StepSpan,
    Timeline,
    build_timeline,
    command_stream,
    compile_program,
)
from massager_sdk.programs.errors import Problem, ProgramError
from massager_sdk.programs.plot import PlotUnavailable, plot_program
from massager_sdk.programs.program import (
    SESSION_LIMIT_S,
    Program,
    ProgramInfo,
    Stage,
    Step,
    builtin_names,
    list_programs,
    load_program,
    parse_program,
    validate_file,
)
from massager_sdk.programs.runner import ProgramRunner, Progress, sleep_until
from massager_sdk.programs.techniques import TECHNIQUES, Envelope, Technique

__all__ = [
    "SESSION_LIMIT_S",
    "TECHNIQUES",
    "Command",
    "CompiledProgram",
    "Emitter",
    "Envelope",
    "Output",
    "PlayPattern",
    "PlotUnavailable",
    "Problem",
    "Program",
    "ProgramDevice",
    "ProgramError",
    "ProgramInfo",
    "ProgramRunner",
    "Progress",
    "SetHeat",
    "SetIntensity",
    "Stage",
    "Step",
    "StepSpan",
    "Stop",
    "Technique",
    "TimedCommand",
    "Timeline",
    "build_timeline",
    "builtin_names",
    "command_stream",
    "compile_program",
    "list_programs",
    "load_program",
    "parse_program",
    "plot_program",
    "sleep_until",
    "validate_file",
]
