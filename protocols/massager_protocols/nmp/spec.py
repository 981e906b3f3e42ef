"""Generate the byte tables of ``protocols/specs/nmp1.md`` from the construct definitions.

The spec's tables sit between ``<!-- generated:NAME -->`` and
``<!-- end:NAME -->`` markers. ``python -m massager_protocols.nmp.spec --check``
exits non-zero when the spec and the code have drifted; ``--write`` rewrites the
tables in place. The test suite runs the check. The table renderers are shared
by every protocol's page (:mod:`massager_protocols.spectables`).
"""

from __future__ import annotations

import sys

from massager_protocols.nmp.framing import FRAME, PAYLOAD_BOUNDS
from massager_protocols.nmp.messages import CODE_TABLES, MESSAGES
from massager_protocols.spectables import SPECS_DIR, SpecPage, code_table, struct_table

SPEC_PATH = SPECS_DIR / "nmp1.md"


def render_blocks() -> dict[str, str]:
    """Every generated block of the spec, by marker name."""
    blocks = {"frame": struct_table(FRAME), "frame-bounds": _bounds_table()}
    for msg_type, cls in sorted(MESSAGES.items()):
        summary = cls.__doc__.splitlines()[0] if cls.__doc__ else ""
        blocks[f"msg-{cls.TYPE.name.lower().replace('_', '-')}"] = (
            f"Type `0x{msg_type:02X}` `{cls.TYPE.name}`. {summary}\n\n" + struct_table(cls.WIRE)
        )
    for title, codes in CODE_TABLES.items():
        blocks["codes-" + title.lower().replace(" ", "-")] = code_table(codes)
    return blocks


def _bounds_table() -> str:
    rows = ["| type | name | longest payload |", "|---|---|---|"]
    rows += [
        f"| 0x{t:02X} | `{MESSAGES[t].TYPE.name}` | {bound} |"
        for t, bound in PAYLOAD_BOUNDS.items()
    ]
    return "\n".join(rows) + "\n"


PAGE = SpecPage(SPEC_PATH, render_blocks)


def update(text: str) -> str:
    """The spec text with every generated block replaced by its current rendering."""
    return PAGE.update(text)


def main(argv: list[str] | None = None) -> int:
    """``--check`` (default) or ``--write`` the spec's generated tables."""
    return PAGE.main(argv, prog="python -m massager_protocols.nmp.spec")


if __name__ == "__main__":
    sys.exit(main())
