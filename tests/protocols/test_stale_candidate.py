"""Section 2.1, rule 6: a candidate left incomplete by a silent link is abandoned.

A corrupted length byte within its type's bound (UPLOAD_PATTERN and INFO may
declare up to 255 payload bytes) makes a candidate that waits for those bytes.
Given times, the receiver gives up on it after ``STALE_CANDIDATE_S`` of silence
and takes the frames that follow; without times it keeps waiting, so the
frames out still depend on the bytes alone.
"""

from __future__ import annotations

from massager_protocols.nmp import GetStatus, StreamDecoder, UploadPattern, encode
from massager_protocols.nmp.framing import STALE_CANDIDATE_S

GOOD = encode(GetStatus(), seq=7)
# The start of an UPLOAD_PATTERN whose length byte was corrupted to 200.
BROKEN = bytes([0xA5, 0x01, 200, 3, UploadPattern.TYPE, 0x00, 0x02])


def test_after_silence_the_false_candidate_is_dropped_and_the_next_frame_taken() -> None:
    decoder = StreamDecoder()
    assert decoder.feed(BROKEN, now=10.0) == []
    frames = decoder.feed(GOOD, now=10.0 + STALE_CANDIDATE_S + 0.05)
    assert [(f.seq, f.msg_type) for f in frames] == [(7, GetStatus.TYPE)]
    assert decoder.buffered == 0
    assert decoder.stats.crc_errors == 0  # abandoned, not a CRC failure


def test_bytes_arriving_within_the_gap_keep_the_candidate() -> None:
    decoder = StreamDecoder()
    decoder.feed(BROKEN, now=10.0)
    assert decoder.feed(GOOD, now=10.0 + STALE_CANDIDATE_S / 2) == []
    assert decoder.buffered == len(BROKEN) + len(GOOD)


def test_without_times_nothing_is_ever_abandoned() -> None:
    decoder = StreamDecoder()
    decoder.feed(BROKEN)
    assert decoder.feed(GOOD) == []


def test_a_complete_frame_among_stale_bytes_is_still_taken() -> None:
    # Silence after a candidate that holds a whole frame: the candidate fails,
    # the frame inside it is found when the stale bytes are searched again.
    decoder = StreamDecoder()
    decoder.feed(bytes([0xA5, 0x01, 40, 9, UploadPattern.TYPE]) + GOOD, now=1.0)
    frames = decoder.feed(b"", now=1.0 + STALE_CANDIDATE_S + 0.01)
    assert [(f.seq, f.msg_type) for f in frames] == [(7, GetStatus.TYPE)]
