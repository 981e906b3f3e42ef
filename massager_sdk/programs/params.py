"""Declared fields: one definition serves the validator, the defaults and the JSON Schema.

Both the fields of a step (``duration``, ``intensity``...) and the parameters of
each technique are :class:`Param` values, so ``docs/program.schema.json`` is
generated from exactly what the loader checks.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

ParamValue = float | int | str | bool
Kind = Literal["number", "integer", "string", "boolean", "strings"]


@dataclasses.dataclass(frozen=True, slots=True)
class Param:
    """One field: its type, bounds or choices, default and where the default comes from."""

    name: str
    kind: Kind
    description: str
    default: ParamValue | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False  #: ``minimum`` itself is not allowed
    choices: tuple[str, ...] = ()
    #: string constants accepted besides the kind's values (``heat = "off"``)
    alternatives: tuple[str, ...] = ()
    source: str = ""  #: the figure of the source article behind the default

    def allowed(self) -> str:
        """What the field accepts, in words."""
        text = self._allowed()
        for alt in self.alternatives:
            text += f" or {alt!r}"
        return text

    def _allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        noun = {
            "number": "a number",
            "integer": "an integer",
            "string": "a string",
            "strings": "a non-empty list of strings",
        }.get(self.kind, "true or false")
        if self.minimum is not None and self.maximum is not None:
            low = f"above {_num(self.minimum)}" if self.exclusive_minimum else _num(self.minimum)
            if self.exclusive_minimum:
                return f"{noun} {low} and at most {_num(self.maximum)}"
            return f"{noun} from {low} to {_num(self.maximum)}"
        if self.minimum is not None:
            word = "above" if self.exclusive_minimum else "at least"
            return f"{noun} {word} {_num(self.minimum)}"
        if self.maximum is not None:
            return f"{noun} at most {_num(self.maximum)}"
        return noun

    def check(self, value: object) -> str | None:
        """``None`` when ``value`` is acceptable, else what is wrong with it."""
        if isinstance(value, str) and value in self.alternatives:
            return None
        if self.kind == "strings":
            if not isinstance(value, list) or not value:
                return f"{value!r} is not a non-empty list"
            bad = [v for v in value if not isinstance(v, str) or not v]
            return f"{bad[0]!r} is not a name" if bad else None
        if self.kind == "boolean":
            return None if isinstance(value, bool) else f"{value!r} is not true or false"
        if self.kind == "string":
            if not isinstance(value, str):
                return f"{value!r} is not a string"
            if self.choices and value not in self.choices:
                return f"{value!r} is not a known {self.name}"
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{value!r} is not a number"
        if self.kind == "integer" and not isinstance(value, int):
            return f"{value!r} is not a whole number"
        if not math.isfinite(value):
            return f"{value!r} is not a finite number"
        if self.minimum is not None and (
            value < self.minimum or (self.exclusive_minimum and value == self.minimum)
        ):
            return f"{_num(value)} is too small"
        if self.maximum is not None and value > self.maximum:
            return f"{_num(value)} is too large"
        return None

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the field."""
        out: dict[str, Any] = {"type": self.kind, "description": self.description}
        if self.kind == "strings":
            out = {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
                "description": self.description,
            }
        if self.choices:
            out["enum"] = list(self.choices)
        if self.minimum is not None:
            out["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.default is not None:
            out["default"] = self.default
        if self.alternatives:
            description = out.pop("description")
            out = {
                "anyOf": [out, *({"const": alt} for alt in self.alternatives)],
                "description": description,
            }
        return out


def _num(value: float) -> str:
    return f"{value:g}"
