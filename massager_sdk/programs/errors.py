"""The one error a program file, a program name or a compilation can raise."""

from __future__ import annotations

import dataclasses

from massager_sdk.errors import MassagerError


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a program: where, which field, what is accepted."""

    message: str  #: what is wrong, e.g. ``1.5 is out of range``
    file: str | None = None  #: the file, or ``builtin:NAME``
    line: int | None = None  #: 1-based line in the file, when it can be found
    column: int | None = None
    field: str | None = None  #: dotted path, e.g. ``stage[2].step[1].intensity``
    allowed: str | None = None  #: what the field accepts

    def __str__(self) -> str:
        where = self.file or "<program>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: "
        if self.field:
            text += f"{self.field}: "
        text += self.message
        if self.allowed:
            text += f" (allowed: {self.allowed})"
        return text


class ProgramError(MassagerError, ValueError):
    """A program that cannot be loaded, validated or compiled.

    ``problems`` lists every problem found, each with its file, line, field and
    what is allowed; the attributes ``file``, ``line``, ``field`` and ``allowed``
    are those of the first problem. ``str(error)`` has one problem per line.
    """

    def __init__(self, problems: list[Problem] | tuple[Problem, ...] | Problem) -> None:
        if isinstance(problems, Problem):
            problems = (problems,)
        if not problems:
            raise ValueError("a ProgramError needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(problems)
        first = self.problems[0]
        self.file = first.file
        self.line = first.line
        self.field = first.field
        self.allowed = first.allowed
        super().__init__("\n".join(str(p) for p in self.problems))
