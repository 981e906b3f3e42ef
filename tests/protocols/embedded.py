"""Byte streams where a valid frame hides inside another frame's payload.

A pattern step of 421 ms is ``A5 01`` on the wire (421 = 0x01A5, little-endian);
the steps after it can be chosen so that the payload carries a whole KEEPALIVE
with a valid CRC. Section 2.1 of the spec says a receiver takes the upload and
never the KEEPALIVE inside it. The C tests use the same streams.
"""

from __future__ import annotations

import dataclasses

from massager_protocols.nmp import (
    Keepalive,
    PatternStep,
    UploadPattern,
    encode,
)

#: 421 ms, ``A5 01`` on the wire.
SYNC_DURATION_MS = 0x01A5


@dataclasses.dataclass(frozen=True)
class EmbeddedUpload:
    """An UPLOAD_PATTERN frame whose payload contains a valid KEEPALIVE frame."""

    upload: UploadPattern
    upload_seq: int
    frame: bytes
    keepalive_seq: int
    keepalive_frame: bytes


def embedded_upload(upload_seq: int = 7, slot: int = 1) -> EmbeddedUpload:
    """The upload: steps ``(50, 421)``, ``(0, seq | 6 << 8)``, ``(crc_lo, crc_hi | 1 << 8)``.

    The first step ends in ``A5 01``, the second's bytes are the KEEPALIVE's
    length, seq and type, the third's first two bytes its CRC. A KEEPALIVE seq
    is chosen whose CRC's low byte is a valid level (0..100), so the upload is
    one a device accepts.
    """
    for seq in range(1, 256):
        keepalive = encode(Keepalive(), seq)
        crc_lo, crc_hi = keepalive[-2], keepalive[-1]
        if crc_lo <= 100 and seq != upload_seq:
            break
    else:  # pragma: no cover - there are several such seqs
        raise AssertionError("no KEEPALIVE seq with a CRC low byte of 100 or less")
    steps = (
        PatternStep(50, SYNC_DURATION_MS),
        PatternStep(0, seq | (0x06 << 8)),
        PatternStep(crc_lo, crc_hi | (1 << 8)),
        PatternStep(100, 300),
    )
    upload = UploadPattern(slot, steps)
    frame = encode(upload, upload_seq)
    assert keepalive in frame[5:-2], "the KEEPALIVE is not inside the upload's payload"
    return EmbeddedUpload(upload, upload_seq, frame, seq, keepalive)
