"""Generate the byte tables of ``protocols/specs/yh.md`` from the construct definitions.

``python -m massager_protocols.yh.spec --check`` exits non-zero when the spec
and the code have drifted; ``--write`` rewrites the tables.
"""

from __future__ import annotations

import sys

from massager_protocols.spectables import SPECS_DIR, SpecPage, code_table, struct_table
from massager_protocols.yh.frames import (
    FRAME,
    FRAME_V0_1_2,
    RANGES,
    STATUS,
    VALUE,
    Command,
    Direction,
    Mode,
)


def ranges_table() -> str:
    """Each one-byte command's accepted values."""
    rows = ["| command | values |", "|---|---|"]
    for command, accepted in RANGES.items():
        rows.append(f"| `{command.name}` | {accepted.start}..{accepted.stop - 1} |")
    return "\n".join(rows) + "\n"


def render_blocks() -> dict[str, str]:
    """Every generated block of the yh spec, by marker name."""
    return {
        "frame": struct_table(FRAME),
        "frame-v012": struct_table(FRAME_V0_1_2),
        "value": struct_table(VALUE),
        "status": struct_table(STATUS),
        "commands": code_table(Command),
        "directions": code_table(Direction),
        "modes": code_table(Mode),
        "ranges": ranges_table(),
    }


PAGE = SpecPage(SPECS_DIR / "yh.md", render_blocks)

if __name__ == "__main__":
    sys.exit(PAGE.main(prog="python -m massager_protocols.yh.spec"))
