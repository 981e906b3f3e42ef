"""Wire traces: every frame sent and received, timestamped and decoded.

The transports log each write and each received chunk on the
``massager_sdk.wire`` logger (see :mod:`massager_sdk.transports.base`); here a
handler turns those records into one line each::

    2026-12-04T17:30:00.123456+00:00 TX sim://heat4 | a5 01 02 08 04 90 01 fa 5e | seq 8 ...

``massager -vv`` writes them to stderr and ``massager --trace FILE`` to a file;
``massager protocol decode --file FILE`` reads them back (other lines, such as
log messages, are skipped).
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

from massager_sdk.transports.base import WIRE_LOGGER

#: One trace line: time, direction, link, hex bytes and (optionally) what they decode to.
LINE = re.compile(
    r"^(?P<time>\S+) (?P<direction>TX|RX) (?P<link>.*?) \| (?P<hex>[0-9a-f]{2}(?: [0-9a-f]{2})*)"
    r"(?: \| (?P<decoded>.*))?$"
)


class FrameDecoder:
    """Whole NMP/1 frames out of one direction of one link, described in words."""

    def __init__(self) -> None:
        from massager_protocols.nmp import StreamDecoder

        self._decoder = StreamDecoder()

    def feed(self, data: bytes) -> list[str]:
        """What the frames ``data`` completes say, one string each."""
        from massager_protocols import ProtocolError
        from massager_protocols.nmp import MsgType, describe

        out = []
        for frame in self._decoder.feed(data):
            known = frame.msg_type in MsgType._value2member_map_
            name = MsgType(frame.msg_type).name if known else f"type 0x{frame.msg_type:02X}"
            try:
                fields = describe(frame.message())
                text = ", ".join(f"{k}={v}" for k, v in fields.items())
            except ProtocolError as exc:
                text = f"error: {exc}"
            out.append(_CONTROL.sub(_escape, f"seq {frame.seq} {name} {text}".rstrip()))
        return out


#: Control characters a device may put in its strings: written escaped, so that a
#: trace stays one line per record and never drives the terminal that shows it.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


class TraceHandler(logging.Handler):
    """Writes wire records as trace lines to a stream."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(logging.DEBUG)
        self._stream = stream
        self._decoders: dict[tuple[str, str], FrameDecoder] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            direction: str = getattr(record, "direction", "")
            link: str = getattr(record, "link", "")
            data: bytes = getattr(record, "data", b"")
            if not direction:
                return
            decoder = self._decoders.setdefault((link, direction), FrameDecoder())
            decoded = "; ".join(decoder.feed(data))
            stamp = datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat()
            line = f"{stamp} {direction} {link} | {data.hex(' ')}"
            self._stream.write(f"{line} | {decoded}\n" if decoded else line + "\n")
            self._stream.flush()
        except Exception:
            self.handleError(record)


def enable(stream: IO[str]) -> TraceHandler:
    """Start writing the wire trace to ``stream``."""
    handler = TraceHandler(stream)
    logger = logging.getLogger(WIRE_LOGGER)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # trace lines go to their handlers only, not the log
    logger.addHandler(handler)
    return handler


def read(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The records of a trace (lines that are not trace lines are skipped)."""
    for line in lines:
        match = LINE.match(line.rstrip("\n"))
        if match:
            yield {
                "time": match["time"],
                "direction": match["direction"],
                "link": match["link"],
                "data": bytes.fromhex(match["hex"]),
            }
