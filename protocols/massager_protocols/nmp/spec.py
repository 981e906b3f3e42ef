"""Generate the byte tables of ``protocols/specs/nmp1.md`` from the construct definitions.

The spec's tables sit between ``<!-- generated:NAME -->`` and
``<!-- end:NAME -->`` markers. ``python -m massager_protocols.nmp.spec --check``
exits non-zero when the spec and the code have drifted; ``--write`` rewrites the
tables in place. The test suite runs the check.
"""

from __future__ import annotations

import argparse
import enum
import re
import sys
from pathlib import Path
from typing import Any

import construct as cs

from massager_protocols.nmp.framing import FRAME
from massager_protocols.nmp.messages import CODE_TABLES, MESSAGES, unwrap

SPEC_PATH = Path(__file__).resolve().parents[2] / "specs" / "nmp1.md"
_BLOCK = re.compile(r"(<!-- generated:(?P<name>[\w-]+) -->\n).*?(<!-- end:(?P=name) -->)", re.S)


def _type_name(con: Any) -> tuple[str, int | None]:
    """A C-like type name for a construct and its fixed size (None if variable)."""
    con = unwrap(con)
    if isinstance(con, cs.FormatField):
        code = con.fmtstr[1:]
        names = {"B": "u8", "b": "i8", "H": "u16", "h": "i16", "I": "u32", "i": "i32"}
        return names[code], con.sizeof()
    if isinstance(con, cs.BytesInteger):
        return f"{'i' if con.signed else 'u'}{8 * con.length}", con.length
    if isinstance(con, cs.Const):
        value = con.value
        shown = value.hex(" ").upper() if isinstance(value, bytes) else f"0x{value:02X}"
        return f"const {shown}", con.sizeof()
    if isinstance(con, cs.Rebuild):
        return _type_name(con.subcon)
    if isinstance(con, cs.Checksum):
        return _type_name(con.checksumfield)
    if isinstance(con, cs.StringEncoded):
        return "str: u8 length + UTF-8", None
    if isinstance(con, cs.FocusedSeq):  # PrefixedArray(count, item)
        count, items = con.subcons
        inner, _ = _type_name(unwrap(items).subcon)
        return f"{_type_name(count)[0]} count + count x {inner}", None
    if isinstance(con, cs.GreedyRange):
        inner, _ = _type_name(con.subcon)
        return f"{inner} x (rest of payload)", None
    if isinstance(con, cs.Bytes):
        return "bytes[length]", None
    if isinstance(con, cs.Struct):
        return "{" + ", ".join(f"{sc.name}: {_type_name(sc)[0]}" for sc in con.subcons) + "}", None
    return type(con).__name__, None


def struct_table(struct: Any) -> str:
    """A Markdown table of a construct Struct: offset, size, field, type, meaning."""
    if not struct.subcons:
        return "_Empty payload._\n"
    rows = ["| offset | size | field | type | meaning |", "|---|---|---|---|---|"]
    offset: int | None = 0
    for sub in struct.subcons:
        type_name, size = _type_name(sub)
        doc = (getattr(sub, "docs", "") or "").replace("|", "\\|")
        where = str(offset) if offset is not None else "..."
        rows.append(
            f"| {where} | {size if size is not None else 'var'} | `{sub.name}` "
            f"| {type_name} | {doc} |"
        )
        offset = offset + size if offset is not None and size is not None else None
    return "\n".join(rows) + "\n"


def code_table(codes: type[enum.Enum]) -> str:
    """A Markdown table of an enum's names and values."""
    rows = ["| value | name | meaning |", "|---|---|---|"]
    for member in codes:
        doc = _member_doc(codes, member.name)
        rows.append(f"| 0x{int(member.value):02X} | `{member.name}` | {doc} |")
    return "\n".join(rows) + "\n"


def _member_doc(codes: type[enum.Enum], name: str) -> str:
    """The ``#:`` comment after an enum member in the source, if any."""
    import inspect

    try:
        source = inspect.getsource(codes)
    except (OSError, TypeError):
        return ""
    match = re.search(rf"^\s+{name} = [^\n#]*#:\s*(.+)$", source, re.M)
    return match.group(1).strip().replace("|", "\\|") if match else ""


def render_blocks() -> dict[str, str]:
    """Every generated block of the spec, by marker name."""
    blocks = {"frame": struct_table(FRAME)}
    for msg_type, cls in sorted(MESSAGES.items()):
        summary = cls.__doc__.splitlines()[0] if cls.__doc__ else ""
        blocks[f"msg-{cls.TYPE.name.lower().replace('_', '-')}"] = (
            f"Type `0x{msg_type:02X}` `{cls.TYPE.name}`. {summary}\n\n" + struct_table(cls.WIRE)
        )
    for title, codes in CODE_TABLES.items():
        blocks["codes-" + title.lower().replace(" ", "-")] = code_table(codes)
    return blocks


def update(text: str) -> str:
    """The spec text with every generated block replaced by its current rendering."""
    blocks = render_blocks()
    seen: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in blocks:
            raise KeyError(f"the spec has a generated block {name!r} that the code does not render")
        seen.add(name)
        return match.group(1) + "\n" + blocks[name] + "\n" + match.group(3)

    result = _BLOCK.sub(replace, text)
    missing = sorted(set(blocks) - seen)
    if missing:
        raise KeyError(f"the spec lacks generated blocks for {missing}")
    return result


def main(argv: list[str] | None = None) -> int:
    """``--check`` (default) or ``--write`` the spec's generated tables."""
    parser = argparse.ArgumentParser(prog="python -m massager_protocols.nmp.spec")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="fail if the tables drifted (default)")
    mode.add_argument("--write", action="store_true", help="rewrite the tables in place")
    parser.add_argument("--spec", type=Path, default=SPEC_PATH)
    args = parser.parse_args(argv)
    text = args.spec.read_text()
    new = update(text)
    if args.write:
        args.spec.write_text(new)
        return 0
    if new != text:
        print(f"{args.spec} is out of date: run with --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
