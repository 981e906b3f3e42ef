"""Program files: the TOML format, its validation (with lines) and the built-in programs.

A program is stages of steps::

    name = "my-program"
    title = "Shoulders after work"
    heat = "off"                       # or a target in C, inherited by stages and steps

    [[stage]]
    name = "preparatory"

    [[stage.step]]
    technique = "stroking"             # see docs/programs.md
    duration = 90                      # seconds; or repetitions, or both
    repetitions = 6
    intensity = 0.35                   # peak, 0.0 .. 1.0 of the device's range
    zones = ["neck", "shoulders"]      # rows, sides, "all" or device zone names
    params = { hands = "alternate" }   # technique parameters

The fields, their bounds and defaults are declared once (:data:`PROGRAM_FIELDS`,
:data:`STAGE_FIELDS`, :data:`STEP_FIELDS` and each technique's ``params``); the
validator and ``docs/program.schema.json`` both come from them.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from massager_sdk.programs.errors import Problem, ProgramError
from massager_sdk.programs.params import Param, ParamValue
from massager_sdk.programs.techniques import ALIASES, TECHNIQUES, Technique, technique
from massager_sdk.safety.limits import SafetyLimits

#: "A full range of effects on the body can take only 20 minutes" (the safety
#: policy's ``session_max_s``).
SESSION_LIMIT_S = SafetyLimits().session_max_s
#: Heat a program may ask for: up to the safety policy's default maximum (42 C).
HEAT_MIN_C = 30.0
HEAT_MAX_C = SafetyLimits().heat_max_c
#: Zone selectors every device understands (rows and sides); other names are zone names.
ZONE_KEYWORDS = ("all", "neck", "shoulders", "back", "left", "right", "centre")

_HEAT = Param(
    "heat",
    "number",
    "heater target in degrees C, or 'off'; inherited by the stages and steps below; "
    "held to the device's presets",
    minimum=HEAT_MIN_C,
    maximum=HEAT_MAX_C,
    alternatives=("off",),
)

PROGRAM_FIELDS: tuple[Param, ...] = (
    Param("name", "string", "short name (defaults to the file name)"),
    Param("title", "string", "one-line title"),
    Param("description", "string", "what the program is for"),
    _HEAT,
)
STAGE_FIELDS: tuple[Param, ...] = (
    Param("name", "string", "the stage's name, e.g. preparatory, main, final"),
    Param("title", "string", "one-line title"),
    _HEAT,
)
STEP_FIELDS: tuple[Param, ...] = (
    Param("name", "string", "a label for the step (defaults to the technique)"),
    Param(
        "technique",
        "string",
        "the massage technique",
        choices=(*TECHNIQUES, *ALIASES),
    ),
    Param(
        "duration",
        "number",
        "seconds; with repetitions too, each repetition lasts duration / repetitions",
        minimum=0,
        exclusive_minimum=True,
        maximum=SESSION_LIMIT_S,
    ),
    Param(
        "repetitions",
        "integer",
        "how many times the technique's movement is repeated",
        minimum=1,
        maximum=1000,
    ),
    Param(
        "intensity",
        "number",
        "peak intensity as a fraction of the device's range (each technique has a default)",
        minimum=0.0,
        maximum=1.0,
    ),
    Param(
        "zones",
        "strings",
        "where: rows (neck, shoulders, back), sides (left, right, centre), 'all' or "
        "the device's zone names; default all (kneading: the shoulders)",
    ),
    _HEAT,
)
#: Sub-tables of each level, besides the fields above.
_PROGRAM_TABLES = ("stage",)
_STAGE_TABLES = ("step",)
_STEP_TABLES = ("params",)


# --------------------------------------------------------------------------
# The program model
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """One technique for a while, fully resolved (defaults applied, heat inherited)."""

    name: str
    technique: str  #: canonical technique name
    duration_s: float
    cycles: int  #: repetitions
    intensity: float  #: peak level, 0.0 .. 1.0
    zones: tuple[str, ...]  #: selectors; empty means the technique's default
    heat_c: float | None  #: heater target, ``None`` for off
    params: Mapping[str, ParamValue]
    line: int | None = None  #: where the step starts in its file

    @property
    def kind(self) -> Technique:
        """The technique object."""
        return TECHNIQUES[self.technique]


@dataclasses.dataclass(frozen=True, slots=True)
class Stage:
    """A named run of steps (preparatory, main, final)."""

    name: str
    title: str
    steps: tuple[Step, ...]
    line: int | None = None

    @property
    def duration_s(self) -> float:
        """Total length of the stage."""
        return sum(s.duration_s for s in self.steps)


@dataclasses.dataclass(frozen=True, slots=True)
class Program:
    """A validated program."""

    name: str
    title: str
    description: str
    stages: tuple[Stage, ...]
    source: str  #: the file path, or ``builtin:NAME``

    @property
    def duration_s(self) -> float:
        """Total length of the program."""
        return sum(s.duration_s for s in self.stages)

    def steps(self) -> Iterator[tuple[Stage, Step]]:
        """Every step with its stage, in order."""
        for stage in self.stages:
            for step in stage.steps:
                yield stage, step


@dataclasses.dataclass(frozen=True, slots=True)
class ProgramInfo:
    """A summary of a built-in program, for listings."""

    name: str
    title: str
    description: str
    duration_s: float
    stages: tuple[str, ...]
    techniques: tuple[str, ...]
    source: str


# --------------------------------------------------------------------------
# Finding lines in the source text
# --------------------------------------------------------------------------

_KEY = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*\]\]?\s*$")
_ASSIGN = re.compile(rf"^\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*=\s*(.*)$")
_INLINE_KEY = re.compile(rf"[{{,]\s*({_KEY})\s*=")

PathKey = tuple[str | int, ...]


def _split_key(dotted: str) -> list[str]:
    return [part.strip().strip("\"'") for part in re.findall(rf"{_KEY}", dotted)]


def _strip_comment(line: str) -> str:
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


class _Locator:
    """Maps key paths (``("stage", 0, "step", 1, "intensity")``) to 1-based lines.

    tomllib reports lines for syntax errors only; for a semantic error the
    offending key is found again in the text. Tables, arrays of tables, dotted
    keys and inline tables on one line are understood; anything else falls back
    to the line of the enclosing table.
    """

    def __init__(self, text: str) -> None:
        self.lines: dict[PathKey, int] = {}
        counts: dict[PathKey, int] = {}
        table: PathKey = ()
        depth = 0  # open brackets of a multi-line value
        fence = ""  # open multi-line string delimiter
        for number, raw in enumerate(text.splitlines(), 1):
            if fence:
                if fence in raw:
                    fence = ""
                continue
            line = _strip_comment(raw)
            if depth:
                depth += line.count("[") + line.count("{") - line.count("]") - line.count("}")
                continue
            header = _HEADER.match(line)
            if header:
                names = _split_key(header.group(2))
                path: PathKey = ()
                for name in names[:-1]:
                    path = (*path, name)
                    if path in counts:
                        path = (*path, counts[path] - 1)
                path = (*path, names[-1])
                if header.group(1) == "[[":
                    counts[path] = counts.get(path, 0) + 1
                    self.lines.setdefault(path, number)
                    path = (*path, counts[path] - 1)
                self.lines.setdefault(path, number)
                table = path
                continue
            assign = _ASSIGN.match(line)
            if not assign:
                continue
            key = (*table, *_split_key(assign.group(1)))
            self.lines.setdefault(key, number)
            value = assign.group(2)
            for inner in _INLINE_KEY.finditer(value):
                self.lines.setdefault((*key, inner.group(1).strip("\"'")), number)
            for delimiter in ('"""', "'''"):
                if value.count(delimiter) == 1:
                    fence = delimiter
            depth = max(
                0, value.count("[") + value.count("{") - value.count("]") - value.count("}")
            )

    def line(self, path: PathKey) -> int | None:
        """The line of ``path``, else of its nearest enclosing key or table."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def _field_name(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += f".{part}" if out else part
    return out


class _Checker:
    """Collects problems with their file, line, field and what is allowed."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.locator = _Locator(text)
        self.problems: list[Problem] = []

    def problem(self, path: PathKey, message: str, allowed: str | None = None) -> None:
        self.problems.append(
            Problem(
                message,
                file=self.source,
                line=self.locator.line(path),
                field=_field_name(path) or None,
                allowed=allowed,
            )
        )

    def fields(
        self,
        table: Mapping[str, Any],
        path: PathKey,
        fields: tuple[Param, ...],
        tables: tuple[str, ...],
        what: str,
    ) -> dict[str, Any]:
        """The valid fields of ``table``; a problem for each unknown or bad one."""
        known = {f.name: f for f in fields}
        out: dict[str, Any] = {}
        for key, value in table.items():
            if key in tables:
                continue
            field = known.get(key)
            if field is None:
                allowed = ", ".join([*known, *tables])
                self.problem((*path, key), f"unknown field {key!r} in a {what}", allowed)
                continue
            wrong = field.check(value)
            if wrong:
                self.problem((*path, key), wrong, field.allowed())
                continue
            out[key] = value
        return out

    def array(self, table: Mapping[str, Any], path: PathKey, key: str) -> list[Any]:
        """The array of tables ``key`` (a problem if missing or not tables)."""
        value = table.get(key)
        if value is None:
            self.problem(path, f"no [[{_field_name((*path, key))}]] table", "at least one")
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem((*path, key), "is not an array of tables", f"[[{key}]] tables")
            return []
        if not value:
            self.problem((*path, key), "is empty", "at least one table")
        return value


def _heat(value: object, inherited: float | None) -> float | None:
    if value is None:
        return inherited
    if value == "off":
        return None
    assert isinstance(value, int | float)
    return float(value)


def _timing(
    check: _Checker,
    path: PathKey,
    kind: Technique,
    fields: Mapping[str, Any],
    params: Mapping[str, ParamValue],
    explicit: Mapping[str, Any],
) -> tuple[float, int] | None:
    """The step's duration and repetitions, or ``None`` after recording a problem."""
    duration = fields.get("duration")
    repetitions = fields.get("repetitions")
    low, high = kind.cycle_range
    if repetitions is not None and not kind.repeats:
        check.problem((*path, "repetitions"), f"{kind.name} has no repetitions", "duration")
        return None
    if duration is not None and repetitions is not None:
        overridden = [p for p in kind.cycle_params if p in explicit]
        if overridden:
            check.problem(
                (*path, "params", overridden[0]),
                "duration and repetitions already set the length of one "
                f"{kind.cycle_noun}; {overridden[0]} would contradict them",
                f"two of duration, repetitions and {' + '.join(kind.cycle_params)}",
            )
            return None
    natural = kind.natural_cycle_s(params)
    if duration is None and repetitions is None:
        if kind.default_repetitions is not None:
            repetitions = kind.default_repetitions
            duration = repetitions * natural
        else:
            duration = kind.default_duration_s or natural
    if duration is None:
        assert repetitions is not None
        duration = repetitions * natural
    if repetitions is None:
        repetitions = max(1, round(duration / natural))
    cycle = duration / repetitions
    if kind.repeats and not low - 1e-9 <= cycle <= high + 1e-9:
        check.problem(
            (*path, "duration" if "duration" in fields else "repetitions"),
            f"{repetitions} x {kind.cycle_noun} in {duration:g} s makes one "
            f"{kind.cycle_noun} last {cycle:.3g} s",
            f"one {kind.name} {kind.cycle_noun} lasts {low:g} to {high:g} s",
        )
        return None
    return float(duration), int(repetitions)


def _mmss(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def parse_program(text: str, *, source: str, default_name: str = "program") -> Program:
    """Parse and validate a program from TOML text; :class:`ProgramError` lists every problem.

    ``source`` names the file in messages (a path or ``builtin:NAME``).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(error))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(error))
        raise ProgramError(
            Problem(
                f"TOML syntax error: {message}",
                file=source,
                line=int(match.group(1)) if match else None,
                column=int(match.group(2)) if match else None,
                allowed="TOML (https://toml.io)",
            )
        ) from None
    check = _Checker(source, text)
    top = check.fields(data, (), PROGRAM_FIELDS, _PROGRAM_TABLES, "program")
    program_heat = _heat(top.get("heat"), None)
    stages: list[Stage] = []
    elapsed = 0.0
    over: tuple[PathKey, float] | None = None
    for i, stage_table in enumerate(check.array(data, (), "stage")):
        stage_path: PathKey = ("stage", i)
        stage_fields = check.fields(stage_table, stage_path, STAGE_FIELDS, _STAGE_TABLES, "stage")
        if "name" not in stage_table:
            check.problem(stage_path, "a stage needs a name", "a string")
        stage_heat = _heat(stage_fields.get("heat"), program_heat)
        steps: list[Step] = []
        for j, step_table in enumerate(check.array(stage_table, stage_path, "step")):
            step_path: PathKey = (*stage_path, "step", j)
            step = _step(check, step_path, step_table, stage_heat)
            if step is None:
                continue
            steps.append(step)
            elapsed += step.duration_s
            if over is None and elapsed > SESSION_LIMIT_S + 1e-9:
                over = (step_path, elapsed)
        stages.append(
            Stage(
                name=str(stage_fields.get("name", f"stage {i + 1}")),
                title=str(stage_fields.get("title", "")),
                steps=tuple(steps),
                line=check.locator.line(stage_path),
            )
        )
    if over is not None and not check.problems:
        total = sum(s.duration_s for s in stages)
        step_path, end = over
        check.problem(
            step_path,
            f"the program lasts {_mmss(total)} (mm:ss), over the {_mmss(SESSION_LIMIT_S)} "
            f"limit of one session; this step ends at {_mmss(end)}",
            f"a total of at most {SESSION_LIMIT_S // 60} minutes "
            '("a full range of effects takes only 20 minutes")',
        )
    if check.problems:
        raise ProgramError(check.problems)
    return Program(
        name=str(top.get("name", default_name)),
        title=str(top.get("title", "")),
        description=str(top.get("description", "")).strip(),
        stages=tuple(stages),
        source=source,
    )


def _step(
    check: _Checker, path: PathKey, table: Mapping[str, Any], heat: float | None
) -> Step | None:
    before = len(check.problems)
    fields = check.fields(table, path, STEP_FIELDS, _STEP_TABLES, "step")
    name = table.get("technique")
    if name is None:
        check.problem(path, "a step needs a technique", ", ".join(TECHNIQUES))
        return None
    if "technique" not in fields:
        return None  # already reported as unknown
    kind = technique(str(name))
    raw_params = table.get("params", {})
    explicit: dict[str, Any] = {}
    if not isinstance(raw_params, dict):
        check.problem((*path, "params"), "is not a table", "a table of technique parameters")
    else:
        explicit = check.fields(
            raw_params, (*path, "params"), kind.params, (), f"{kind.name} step's params"
        )
    params = {**kind.defaults(), **explicit}
    if len(check.problems) > before:
        return None
    timing = _timing(check, path, kind, fields, params, explicit)
    if timing is None:
        return None
    duration, cycles = timing
    zones = tuple(fields.get("zones", ()))
    return Step(
        name=str(fields.get("name", kind.name)),
        technique=kind.name,
        duration_s=duration,
        cycles=cycles,
        intensity=float(fields.get("intensity", kind.level)),
        zones=zones,
        heat_c=_heat(fields.get("heat"), heat),
        params=params,
        line=check.locator.line(path),
    )


# --------------------------------------------------------------------------
# Files and built-in programs
# --------------------------------------------------------------------------


def _builtin_dir() -> Any:
    return resources.files("massager_sdk.programs").joinpath("builtin")


def builtin_names() -> list[str]:
    """The names of the built-in programs, sorted."""
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in _builtin_dir().iterdir()
        if entry.name.endswith(".toml")
    )


def validate_file(path: str | Path) -> Program:
    """Load and validate a program file; :class:`ProgramError` says what is wrong and where."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProgramError(
            Problem("no such file", file=str(path), allowed="a path to a .toml program file")
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProgramError(
            Problem(f"cannot read the file: {error}", file=str(path), allowed="a UTF-8 TOML file")
        ) from None
    return parse_program(text, source=str(path), default_name=path.stem)


def load_program(name_or_path: str | Path) -> Program:
    """A built-in program by name (``classic``), or a program file by path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text or "\\" in text:
        return validate_file(name_or_path)
    if Path(text).is_file():
        return validate_file(text)
    names = builtin_names()
    if text not in names:
        raise ProgramError(
            Problem(
                f"no built-in program {text!r} and no such file",
                field="program",
                allowed="a built-in program (" + ", ".join(names) + ") or a .toml file path",
            )
        )
    source = _builtin_dir().joinpath(f"{text}.toml").read_text(encoding="utf-8")
    return parse_program(source, source=f"builtin:{text}", default_name=text)


def list_programs() -> list[ProgramInfo]:
    """Every built-in program, summarised."""
    out = []
    for name in builtin_names():
        program = load_program(name)
        techniques = tuple(dict.fromkeys(step.technique for _, step in program.steps()))
        out.append(
            ProgramInfo(
                name=program.name,
                title=program.title,
                description=program.description,
                duration_s=program.duration_s,
                stages=tuple(s.name for s in program.stages),
                techniques=techniques,
                source=program.source,
            )
        )
    return out
