"""The JSON Schema of program files, generated from the loader's own field definitions.

``python -m massager_sdk.programs.schema > docs/program.schema.json`` writes it;
a test fails when the published file and this differ.
"""

from __future__ import annotations

import json
from typing import Any

from massager_sdk.programs.params import Param
from massager_sdk.programs.program import PROGRAM_FIELDS, STAGE_FIELDS, STEP_FIELDS
from massager_sdk.programs.techniques import ALIASES, TECHNIQUES


def _object(
    fields: tuple[Param, ...], extra: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "properties": {**{f.name: f.schema() for f in fields}, **extra},
        "additionalProperties": False,
    }
    if required:
        out["required"] = required
    return out


def program_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a program file, as a dict."""
    params: dict[str, Any] = {}
    rules = []
    for technique in TECHNIQUES.values():
        params[technique.name] = {
            "type": "object",
            "description": f"parameters of {technique.name}: {technique.summary}",
            "properties": {p.name: p.schema() for p in technique.params},
            "additionalProperties": False,
        }
        names = [technique.name, *(a for a, t in ALIASES.items() if t == technique.name)]
        rules.append(
            {
                "if": {
                    "properties": {"technique": {"enum": names}},
                    "required": ["technique"],
                },
                "then": {"properties": {"params": {"$ref": f"#/$defs/params/{technique.name}"}}},
            }
        )
    step = _object(
        STEP_FIELDS,
        {"params": {"type": "object", "description": "the technique's parameters"}},
        ["technique"],
    )
    step["allOf"] = rules
    stage = _object(
        STAGE_FIELDS,
        {"step": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}}},
        ["name", "step"],
    )
    program = _object(
        PROGRAM_FIELDS,
        {"stage": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/stage"}}},
        ["stage"],
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "massager-sdk program",
        "description": (
            "A massage program: stages of steps, each a technique for a duration or a "
            "number of repetitions. The whole program lasts at most 20 minutes."
        ),
        **program,
        "$defs": {"stage": stage, "step": step, "params": params},
    }


def techniques_table_markdown() -> str:
    """The techniques, their parameters, defaults and sources, as Markdown (for the docs)."""
    lines = [
        "| technique | parameter | default | allowed | figure behind the default |",
        "|---|---|---|---|---|",
    ]
    for t in TECHNIQUES.values():
        timing = (
            f"{t.default_repetitions} repetitions"
            if t.default_repetitions is not None
            else f"{t.default_duration_s:g} s"
        )
        lines.append(
            f"| **{t.name}** | peak `intensity` | {t.level:g} | 0 to 1 | {t.level_source} |"
        )
        lines.append(f"| | length | {timing} | | {t.timing_source} |")
        for p in t.params:
            lines.append(f"| | `{p.name}` | {p.default!r} | {p.allowed()} | {p.source} |")
    return "\n".join(lines) + "\n"


def schema_text() -> str:
    """The schema as the text of ``docs/program.schema.json``."""
    return json.dumps(program_schema(), indent=2) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
