"""Checks of the receiver's framing rules (spec section 2.1)."""

from __future__ import annotations

import asyncio

from massager_protocols.nmp import (
    Ack,
    GetStatus,
    Keepalive,
    MsgType,
    PatternStep,
    Status,
    UploadPattern,
    encode,
)

from massager_sdk.conformance.core import (
    REPLY_TIMEOUT_S,
    CheckFailed,
    Checks,
    NotTestable,
    Probe,
    one_on,
    require_info,
    show,
)

#: The checks of this module, in the order they run.
CHECKS = Checks()
check = CHECKS.check


@check("the device resynchronises after noise and a bad CRC", "2.1")
async def _noise(probe: Probe) -> str:
    bad = bytearray(encode(one_on(), probe.next_seq()))
    bad[-1] ^= 0xFF
    await probe.transport.write(b"\x00\xa5\x13\x37" + bytes(bad))
    status = await probe.status()
    if any(status.intensities):
        raise CheckFailed("a frame with a bad CRC switched a zone on")
    return "frame after noise answered; corrupt frame ignored"


@check("frames inside a failed candidate are found (A5 01 in noise)", "2.1")
async def _false_start(probe: Probe) -> str:
    # Noise that looks like the start of a 10-byte frame, then a request: the
    # request lies inside the false candidate. The repeated request completes
    # the candidate, its CRC fails, and both requests are found in the buffer.
    first, second = probe.next_seq(), probe.next_seq()
    waiter = asyncio.ensure_future(
        probe.raw(b"\xa5\x01\x0a\x05\x06" + encode(GetStatus(), first), first)
    )
    # Well within the 200 ms after which a silent link abandons the candidate (rule 6):
    # the second request must complete it, so its CRC failure decides.
    await asyncio.sleep(0.05)
    reply = await probe.raw(encode(GetStatus(), second), second)
    if not isinstance(reply, Status):
        waiter.cancel()
        raise CheckFailed(f"GET_STATUS after noise: expected STATUS, got {show(reply)}")
    try:
        await waiter
    except CheckFailed:
        raise CheckFailed(
            "the request inside the false candidate was lost: after a CRC failure only "
            "the candidate's first byte is discarded"
        ) from None
    return "both requests answered"


def _embedded_upload(seq: int, inner_seq: int) -> bytes | None:
    """An UPLOAD_PATTERN frame whose steps hold ``A5 01`` and a whole valid
    KEEPALIVE frame numbered ``inner_seq`` (``None`` if no step layout fits)."""
    for candidate in range(inner_seq, inner_seq + 200):
        n = candidate % 254 + 1
        inner = encode(Keepalive(), n)  # A5 01 00 n 06 crcL crcH
        if inner[5] > 100:
            continue
        steps = (
            PatternStep(50, inner[0] | inner[1] << 8),
            PatternStep(inner[2], inner[3] | inner[4] << 8),
            PatternStep(inner[5], inner[6] | 1 << 8),
        )
        return encode(UploadPattern(0, steps), seq)
    return None


@check("A5 01 and a whole frame inside a payload, fed byte by byte", "2.1")
async def _embedded(probe: Probe) -> str:
    info = require_info(probe)
    if not info.pattern_slots or info.pattern_max_steps < 3:
        raise NotTestable("needs a pattern slot of at least 3 steps to carry the bytes")
    seq = probe.next_seq()
    frame = _embedded_upload(seq, 200)
    assert frame is not None
    inner_seq = frame[5 + 5 + 3]  # step 2's duration low byte: the inner frame's seq
    probe.stray.clear()
    reply = await probe.raw(frame, seq, limit_s=REPLY_TIMEOUT_S + len(frame) * 0.01, bytewise=True)
    if not (isinstance(reply, Ack) and reply.acked_type == MsgType.UPLOAD_PATTERN):
        raise CheckFailed(f"UPLOAD_PATTERN carrying A5 01: expected ACK, got {show(reply)}")
    await probe.status()
    if any(n == inner_seq for n, _ in probe.stray):
        raise CheckFailed("the KEEPALIVE inside the upload's payload was answered as a frame")
    return "the upload was ACKed, the frame inside it ignored"
