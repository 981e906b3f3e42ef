"""``massager protocol decode|vectors``."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from massager_sdk.cli.exitcodes import ExitCode
from massager_sdk.cli.output import console, emit_json

_SEPARATORS = re.compile(r"0x|[\s:,\-]", re.I)


def parse_hex(text: str) -> bytes:
    """Bytes from hex text; spaces, colons, commas, dashes and ``0x`` prefixes are ignored."""
    cleaned = _SEPARATORS.sub("", text)
    bad = re.search(r"[^0-9a-fA-F]", cleaned)
    if bad:
        raise ValueError(
            f"not hex: {bad.group()!r} at character {bad.start() + 1} of the cleaned input; "
            "give pairs of hex digits, optionally separated by spaces or colons"
        )
    if len(cleaned) % 2:
        raise ValueError(f"odd number of hex digits ({len(cleaned)}): each byte needs two")
    return bytes.fromhex(cleaned)


def decode(args: argparse.Namespace) -> int:
    """Decode NMP/1 frames; report what could not be decoded without failing."""
    from massager_protocols import ProtocolError
    from massager_protocols.nmp import MsgType, StreamDecoder, describe

    data = parse_hex(sys.stdin.read() if args.hex == "-" else args.hex)
    decoder = StreamDecoder()
    results: list[dict[str, Any]] = []
    for frame in decoder.feed(data):
        known = frame.msg_type in MsgType._value2member_map_
        entry: dict[str, Any] = {
            "seq": frame.seq,
            "type": f"0x{frame.msg_type:02X}",
            "message": MsgType(frame.msg_type).name if known else "UNKNOWN",
        }
        try:
            entry["fields"] = describe(frame.message())
        except ProtocolError as exc:
            entry["error"] = str(exc)
        results.append(entry)
    summary = {
        "decoded": len(results),
        "bytes_skipped": decoder.stats.bytes_skipped,
        "crc_errors": decoder.stats.crc_errors,
        "incomplete_bytes": decoder.buffered,
    }
    if args.json:
        emit_json({"frames": results, **summary})
        return ExitCode.OK
    out = console()
    for entry in results:
        head = f"seq {entry['seq']:>3}  {entry['message']}"
        if "error" in entry:
            out.print(f"{head}  [red]error:[/] {entry['error']}")
            continue
        fields = ", ".join(f"{k}={v}" for k, v in entry["fields"].items())
        out.print(f"{head}  {fields}", markup=False)
    notes = [f"{summary['decoded']} frame(s)"]
    if summary["bytes_skipped"]:
        notes.append(f"{summary['bytes_skipped']} byte(s) skipped")
    if summary["crc_errors"]:
        notes.append(f"{summary['crc_errors']} CRC failure(s)")
    if summary["incomplete_bytes"]:
        notes.append(f"{summary['incomplete_bytes']} byte(s) of an incomplete frame at the end")
    out.print("; ".join(notes), markup=False)
    return ExitCode.OK


def vectors(args: argparse.Namespace) -> int:
    """Print the golden vectors of a protocol."""
    from massager_protocols.vectors import load

    data = load(args.protocol)
    if args.json:
        emit_json(data)
        return ExitCode.OK
    out = console()
    for vector in data["messages"]:
        out.print(f"{vector['message']:<15} seq {vector['seq']:>3}  {vector['name']}", markup=False)
        out.print(f"    {vector['hex']}", markup=False)
    out.print(f"{len(data['messages'])} message vectors, {len(data['exchanges'])} exchanges")
    return ExitCode.OK
