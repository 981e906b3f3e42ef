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


def _decoder() -> Any:
    """An NMP/1 stream decoder that also records each CRC failure: where, received, expected."""
    from massager_protocols.crc import crc16_ccitt_false
    from massager_protocols.nmp import StreamDecoder

    class Diagnosing(StreamDecoder):
        def __init__(self) -> None:
            super().__init__()
            self.fed = 0  # bytes fed before the current chunk
            self.crc_failures: list[dict[str, Any]] = []

        def _rejected(self, start: int) -> None:
            super()._rejected(start)
            frame = bytes(self._buf[start : start + self._frame_length(start)])
            expected = crc16_ccitt_false(frame[1:-2]).to_bytes(2, "little")
            self.crc_failures.append(
                {
                    "offset": self.fed - len(self._buf) + start,
                    "seq": frame[3],
                    "type": f"0x{frame[4]:02X}",
                    "received": frame[-2:].hex(" "),
                    "expected": expected.hex(" "),
                }
            )

        def feed(self, data: bytes | bytearray | memoryview, now: float | None = None) -> list[Any]:
            self.fed += len(data)
            return super().feed(data, now)

    return Diagnosing()


def decode(args: argparse.Namespace) -> int:
    """Decode NMP/1 frames; report what could not be decoded without failing."""
    if args.file is not None:
        if args.hex is not None:
            raise ValueError("give HEX|- or --file TRACE, not both")
        return _decode_trace(args)
    if args.hex is None:
        raise ValueError("nothing to decode: give hex bytes, - (stdin) or --file TRACE")
    from massager_protocols import ProtocolError
    from massager_protocols.nmp import MsgType, describe

    data = parse_hex(sys.stdin.read() if args.hex == "-" else args.hex)
    decoder = _decoder()
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
        "crc_failures": decoder.crc_failures,
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
    for bad in decoder.crc_failures:
        out.print(
            f"CRC failure at byte {bad['offset']} (seq {bad['seq']}, type {bad['type']}): "
            f"received {bad['received']}, expected {bad['expected']}",
            markup=False,
            highlight=False,
        )
    if summary["crc_errors"]:
        notes.append(f"{summary['crc_errors']} CRC failure(s)")
    if summary["incomplete_bytes"]:
        notes.append(f"{summary['incomplete_bytes']} byte(s) of an incomplete frame at the end")
    out.print("; ".join(notes), markup=False)
    return ExitCode.OK


def _decode_trace(args: argparse.Namespace) -> int:
    """Read a wire trace back: each frame with its time, direction and link."""
    from massager_sdk.cli import trace

    try:
        with open(args.file, encoding="utf-8") as file:
            records = list(trace.read(file))
    except OSError as exc:
        raise ValueError(f"cannot read the trace {args.file}: {exc.strerror}") from None
    if not records:
        raise ValueError(
            f"{args.file} holds no trace lines (TIME TX|RX LINK | HEX ...); "
            "write one with massager --trace FILE VERB"
        )
    decoders: dict[tuple[str, str], trace.FrameDecoder] = {}
    out = console()
    frames = 0
    for record in records:
        decoder = decoders.setdefault((record["link"], record["direction"]), trace.FrameDecoder())
        for text in decoder.feed(record["data"]):
            frames += 1
            if args.json:
                emit_json({k: record[k] for k in ("time", "direction", "link")} | {"frame": text})
            else:
                line = f"{record['time']} {record['direction']} {record['link']}  {text}"
                out.print(line, markup=False, highlight=False)
    if not args.json:
        out.print(f"{frames} frame(s) in {len(records)} trace line(s)", markup=False)
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
