"""Spec pages whose byte tables are generated from construct definitions.

Every protocol's spec (``protocols/specs/*.md``) marks its generated tables
with ``<!-- generated:NAME -->`` ... ``<!-- end:NAME -->``. A protocol module
supplies a function that renders every block by name; :class:`SpecPage` checks
the page against it (a test fails when they drift) or rewrites it. The table
renderers are the ones NMP/1's spec uses, so every page reads the same way.
"""

from __future__ import annotations

import argparse
import enum
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import construct as cs

from massager_protocols.nmp.messages import unwrap

__all__ = ["SPECS_DIR", "SpecPage", "code_table", "struct_table", "type_name"]

#: Where the spec pages live in the repository.
SPECS_DIR = Path(__file__).resolve().parents[1] / "specs"
_BLOCK = re.compile(r"(<!-- generated:(?P<name>[\w-]+) -->\n).*?(<!-- end:(?P=name) -->)", re.S)


def type_name(con: Any) -> tuple[str, int | None]:
    """A C-like type name and fixed size: NMP/1's, plus varints, arrays and byte runs."""
    con = unwrap(con)
    if hasattr(con, "SPEC_TYPE"):  # a construct that names its own wire form
        return str(con.SPEC_TYPE), None
    if isinstance(con, cs.FormatField):
        code = con.fmtstr[1:]
        names = {"B": "u8", "b": "i8", "H": "u16", "h": "i16", "I": "u32", "L": "u32",
                 "i": "i32", "l": "i32", "Q": "u64"}  # fmt: skip
        order = "" if code in "Bb" else " BE" if con.fmtstr[0] == ">" else ""
        return names[code] + order, con.sizeof()
    if con is cs.VarInt:
        return "varint", None
    if isinstance(con, cs.Const) and unwrap(con.subcon) is cs.VarInt:
        return f"varint const {con.value}", None
    if isinstance(con, cs.Array) and isinstance(con.count, int):
        inner, size = type_name(con.subcon)
        return f"{inner}[{con.count}]", None if size is None else size * con.count
    if isinstance(con, cs.Bytes) and isinstance(con.length, int):
        return f"bytes[{con.length}]", con.length
    if con is cs.GreedyBytes:
        return "bytes (the rest)", None
    if isinstance(con, cs.Checksum):
        return type_name(con.checksumfield)
    if isinstance(con, cs.Rebuild):
        return type_name(con.subcon)
    if isinstance(con, cs.BytesInteger):
        return f"{'i' if con.signed else 'u'}{8 * con.length}", con.length
    if isinstance(con, cs.Const):
        value = con.value
        shown = value.hex(" ").upper() if isinstance(value, bytes) else f"0x{value:02X}"
        return f"const {shown}", con.sizeof()
    if isinstance(con, cs.StringEncoded):
        return "str: u8 length + UTF-8", None
    if isinstance(con, cs.FocusedSeq):  # PrefixedArray(count, item)
        count, items = con.subcons
        inner, _ = type_name(unwrap(items).subcon)
        return f"{type_name(count)[0]} count + count x {inner}", None
    if isinstance(con, cs.GreedyRange):
        inner, _ = type_name(con.subcon)
        return f"{inner} x (rest of payload)", None
    if isinstance(con, cs.Bytes):
        return "bytes[length]", None
    if isinstance(con, cs.Struct):
        return "{" + ", ".join(f"{sc.name}: {type_name(sc)[0]}" for sc in con.subcons) + "}", None
    return type(con).__name__, None


def code_table(codes: type[enum.Enum]) -> str:
    """A Markdown table of an enum's names and values (and ``#:`` comments)."""
    rows = ["| value | name | meaning |", "|---|---|---|"]
    for member in codes:
        doc = _member_doc(codes, member.name)
        rows.append(f"| 0x{int(member.value):02X} | `{member.name}` | {doc} |")
    return "\n".join(rows) + "\n"


def _member_doc(codes: type[enum.Enum], name: str) -> str:
    """The ``#:`` comment after an enum member in the source, if any."""
    try:
        source = inspect.getsource(codes)
    except (OSError, TypeError):
        return ""
    match = re.search(rf"^\s+{name} = [^\n#]*#:\s*(.+)$", source, re.M)
    return match.group(1).strip().replace("|", "\\|") if match else ""


def struct_table(struct: Any) -> str:
    """A Markdown table of a construct Struct: offset, size, field, type, meaning."""
    if not struct.subcons:
        return "_Empty payload._\n"
    rows = ["| offset | size | field | type | meaning |", "|---|---|---|---|---|"]
    offset: int | None = 0
    for sub in struct.subcons:
        name, size = type_name(sub)
        doc = (getattr(sub, "docs", "") or "").replace("|", "\\|")
        where = str(offset) if offset is not None else "..."
        rows.append(
            f"| {where} | {size if size is not None else 'var'} | `{sub.name}` | {name} | {doc} |"
        )
        offset = offset + size if offset is not None and size is not None else None
    return "\n".join(rows) + "\n"


class SpecPage:
    """One spec page and the function that renders its generated blocks."""

    def __init__(self, path: Path, render: Callable[[], dict[str, str]]) -> None:
        self.path = path
        self.render = render

    def update(self, text: str) -> str:
        """``text`` with every generated block replaced by its current rendering.

        ``KeyError`` names a block the page has and the code does not render, or
        one the code renders and the page lacks.
        """
        blocks = self.render()
        seen: set[str] = set()

        def replace(match: re.Match[str]) -> str:
            name = match.group("name")
            if name not in blocks:
                raise KeyError(f"{self.path.name} has a generated block {name!r} the code lacks")
            seen.add(name)
            return match.group(1) + "\n" + blocks[name] + "\n" + match.group(3)

        result = _BLOCK.sub(replace, text)
        missing = sorted(set(blocks) - seen)
        if missing:
            raise KeyError(f"{self.path.name} lacks generated blocks for {missing}")
        return result

    def main(self, argv: list[str] | None = None, prog: str | None = None) -> int:
        """``--check`` (default, exit 1 on drift) or ``--write`` the page's tables."""
        parser = argparse.ArgumentParser(prog=prog)
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--check", action="store_true", help="fail if the tables drifted")
        mode.add_argument("--write", action="store_true", help="rewrite the tables in place")
        parser.add_argument("--spec", type=Path, default=self.path)
        args = parser.parse_args(argv)
        text = args.spec.read_text(encoding="utf-8")
        new = self.update(text)
        if args.write:
            args.spec.write_text(new, encoding="utf-8")
            return 0
        if new != text:
            print(f"{args.spec} is out of date: run with --write", file=sys.stderr)
            return 1
        return 0
