"""The resynchronising stream decoder that framed protocols share.

A frame starts with sync bytes and says its own length; a check (CRC, trailer)
tells a real frame from noise. Subclasses say how long the frame at a position
is, whether a complete candidate is valid, and what frame object to make; this
base does the rest: split and merged chunks, garbage between frames, and
skipping one byte after a bad candidate.

What happens while a candidate is incomplete is the protocol's choice
(``TRUST_HEADER``): either the receiver waits for it, so that a frame embedded
in a longer frame's payload is never taken for a frame of its own (NMP/1, whose
header check keeps noise from holding frames back for long); or it abandons the
candidate as soon as a complete, valid frame starts later in the buffer, so
that a valid frame after noise is never held back.

A receiver that waits has one more rule, for a false candidate that the link
will not complete soon (noise, or a corrupted length byte within its type's
bound): given the time of each chunk (``feed(data, now)``), a candidate still
incomplete when the link has been silent for ``STALE_AFTER`` seconds is
abandoned as though its check had failed, so the frames after it are taken.
Without times nothing is ever abandoned and the frames out depend on the bytes
alone.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import ClassVar, Generic, TypeVar

F = TypeVar("F")


@dataclasses.dataclass(slots=True)
class DecoderStats:
    """What a stream decoder saw: frames, and what it had to throw away."""

    frames: int = 0
    bytes_skipped: int = 0
    crc_errors: int = 0


class SyncStreamDecoder(abc.ABC, Generic[F]):
    """Turns a byte stream cut anywhere into whole frames.

    Memory is bounded by one maximum frame plus a chunk.
    """

    #: The bytes every frame starts with.
    SYNC: ClassVar[bytes]
    #: Bytes a frame needs before its length can be read and its header judged.
    LENGTH_AT: ClassVar[int]
    #: The shortest possible frame.
    MIN_FRAME: ClassVar[int]
    #: Whether a candidate whose header is plausible (``_frame_length`` is not
    #: 0) is waited for until it is complete and its check decides. Then what
    #: the decoder yields depends on the bytes alone, never on how they were
    #: cut, and a byte-at-a-time receiver agrees with it. Otherwise an
    #: incomplete candidate yields to a complete, valid frame found later in
    #: the buffer.
    TRUST_HEADER: ClassVar[bool] = False
    #: Seconds of silence after which bytes still waiting for the rest of their
    #: candidate are abandoned (only when ``feed`` is given times); ``None``: never.
    STALE_AFTER: ClassVar[float | None] = None

    __slots__ = ("_buf", "_last_at", "stats")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._last_at: float | None = None
        self.stats = DecoderStats()

    # -- what a protocol provides ---------------------------------------------

    @abc.abstractmethod
    def _frame_length(self, pos: int) -> int:
        """Total length of the candidate frame at ``pos``; 0 if no frame can start there."""

    @abc.abstractmethod
    def _valid(self, start: int, end: int) -> bool:
        """Whether the complete candidate ``buf[start:end]`` passes its checks."""

    @abc.abstractmethod
    def _frame(self, start: int, end: int) -> F:
        """The frame object for the valid candidate ``buf[start:end]``."""

    def _rejected(self, start: int) -> None:
        """Called for a candidate that failed its check (for diagnostics)."""

    # -- the shared machinery ---------------------------------------------------

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buf)

    def reset(self) -> None:
        """Drop any partial frame (for example after a reconnect)."""
        self.stats.bytes_skipped += len(self._buf)
        self._buf.clear()

    def feed(self, data: bytes | bytearray | memoryview, now: float | None = None) -> list[F]:
        """Add bytes that arrived at ``now`` (seconds, any monotonic clock; optional);
        return every frame they complete, in order."""
        out: list[F] = []
        if now is not None:
            stale = self.STALE_AFTER
            last = self._last_at
            if stale is not None and self._buf and last is not None and now - last >= stale:
                out = self._scan(final=True)
            self._last_at = now
        self._buf += data
        out += self._scan(final=False)
        return out

    def _scan(self, *, final: bool) -> list[F]:
        """Take every frame in the buffer; ``final``: nothing more will complete
        what is there, so incomplete candidates count as failed and the rest is dropped."""
        buf = self._buf
        out: list[F] = []
        stats = self.stats
        sync = self.SYNC
        pos = 0
        n = len(buf)
        while True:
            start = buf.find(sync, pos)
            if start < 0:
                # Keep a trailing first sync byte: the rest may be on its way.
                keep = 1 if n > pos and buf[-1] == sync[0] and not final else 0
                stats.bytes_skipped += n - pos - keep
                pos = n - keep
                break
            stats.bytes_skipped += start - pos
            pos = start
            if n - pos < self.LENGTH_AT:
                if final:
                    stats.bytes_skipped += n - pos
                    pos = n
                break
            length = self._frame_length(pos)
            if not length:
                stats.bytes_skipped += 1
                pos += 1
                continue
            end = pos + length
            if end > n:
                if final:
                    stats.bytes_skipped += 1
                    pos += 1
                    continue
                if self.TRUST_HEADER:
                    break
                later = self._complete_frame_after(pos + 1, n)
                if later < 0:
                    break
                stats.bytes_skipped += later - pos
                pos = later
                continue
            if not self._valid(pos, end):
                stats.crc_errors += 1
                self._rejected(pos)
                stats.bytes_skipped += 1
                pos += 1
                continue
            out.append(self._frame(pos, end))
            stats.frames += 1
            pos = end
        if pos:
            del buf[:pos]
        return out

    def _complete_frame_after(self, pos: int, n: int) -> int:
        """Start of the first complete, valid frame at or after ``pos``, or -1."""
        buf = self._buf
        while True:
            start = buf.find(self.SYNC, pos)
            if start < 0 or n - start < self.MIN_FRAME:
                return -1
            length = self._frame_length(start)
            if length and start + length <= n and self._valid(start, start + length):
                return start
            pos = start + 1
