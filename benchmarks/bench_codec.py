"""NMP/1 codec throughput against a hand-written ``struct`` + ``binascii`` codec.

Both sides do the same work per frame: find the frame, check the CRC, parse the
payload and create an object (decode); or build payload, header and CRC (encode).
Target: the codec reaches at least 0.2 of the baseline's frames per second.

The authenticated mode's cost (spec section 10): the three messages sent at a
steady rate, signed (HMAC-SHA-256 over nonce, counter and frame) and checked
(counter expanded, MAC compared) against the same messages unsigned, in the same
run. Target: signed frames at least 0.2 of the unsigned rate both ways.
"""

from __future__ import annotations

import binascii
import dataclasses
import functools
import struct
from collections.abc import Callable

from massager_protocols.nmp import (
    Ack,
    Keepalive,
    Message,
    Session,
    SetHeat,
    SetOutput,
    Status,
    StreamDecoder,
    auth,
    encode,
)

from benchmarks.harness import Report, Target, fmt, rate

MIX: list[Message] = [
    SetOutput(0b0011, 5, 2, 0, 2000),
    SetHeat(400),
    Keepalive(),
    Status.make(
        battery_pct=76,
        battery_mv=3880,
        heat_target_dc=420,
        temperature_dc=395,
        auto_off_s=600,
        intensities=(3, 3, 0, 5),
    ),
    Ack(3),
]


# ---- the baseline: what one would write by hand for these five messages ----


@dataclasses.dataclass(frozen=True, slots=True)
class _HandMessage:
    msg_type: int
    seq: int
    values: tuple[int, ...]


_HAND_FORMATS = {
    0x03: struct.Struct("<BBBBH"),
    0x04: struct.Struct("<H"),
    0x06: struct.Struct("<"),
    0x83: struct.Struct("<BHBHBH"),
    0x80: struct.Struct("<B"),
}
_HAND_HEADER = struct.Struct("<BBBBB")
_HAND_CRC = struct.Struct("<H")


def _hand_encode(msg_type: int, seq: int, values: tuple[int, ...], tail: bytes = b"") -> bytes:
    payload = _HAND_FORMATS[msg_type].pack(*values) + tail
    body = _HAND_HEADER.pack(0xA5, 1, len(payload), seq, msg_type)[1:] + payload
    return b"\xa5" + body + _HAND_CRC.pack(binascii.crc_hqx(body, 0xFFFF))


def _hand_decode(data: bytes) -> _HandMessage:
    sof, version, length, seq, msg_type = _HAND_HEADER.unpack_from(data)
    if sof != 0xA5 or version != 1:
        raise ValueError("bad start")
    end = 5 + length
    (crc,) = _HAND_CRC.unpack_from(data, end)
    if crc != binascii.crc_hqx(data[1:end], 0xFFFF):
        raise ValueError("bad crc")
    fmt_ = _HAND_FORMATS[msg_type]
    values = fmt_.unpack_from(data, 5) + tuple(data[5 + fmt_.size : end])
    return _HandMessage(msg_type, seq, values)


def _hand_values(message: Message) -> tuple[tuple[int, ...], bytes]:
    if isinstance(message, Status):
        heat = message.heat
        levels = message.intensities
        values = (
            message.power,
            message.battery_mv,
            message.faults | 0x80,  # 1.1's layout: levels two to a byte, count beside auto-off
            heat & 0xFFFF,
            heat >> 16,
            message.auto_off_s | len(levels) << 12,
        )
        padded = (*levels, 0)
        return values, bytes(padded[i] | padded[i + 1] << 4 for i in range(0, len(levels), 2))
    return tuple(dataclasses.astuple(message)), b""


def _decode_one(decoder: StreamDecoder, frame: bytes) -> None:
    for fr in decoder.feed(frame):
        fr.message()


#: The messages a host signs many times a second.
SIGNED_MIX: list[Message] = [SetOutput(0b0011, 5, 2, 0, 2000), SetHeat(400), Keepalive()]
_KEY = bytes(range(32))
_NONCE = bytes(range(8))


def _signed_rates() -> tuple[list[dict[str, str]], float, float]:
    """Rows for the signed messages, and the signed/unsigned ratios of the mix."""
    signer = auth.Signer(_KEY, Session(0, auth.key_id(_KEY), tuple(_NONCE)))
    verifier = auth.Verifier(_KEY, _NONCE)
    frames = [signer.frame(m, 7) for m in SIGNED_MIX]
    counters = range(1, len(frames) + 1)
    plain_decoder, signed_decoder = StreamDecoder(), StreamDecoder()

    def signed_encode(message: Message) -> None:
        signer.frame(message, 7)

    def signed_decode(frame: bytes, counter: int) -> None:
        for fr in signed_decoder.feed(frame):
            verifier.last = counter - 1  # as if it were the next frame of the session
            body = verifier.check(fr.seq, fr.msg_type, fr.payload, 0.0)
            assert body is not None
            type(SIGNED_MIX[counter - 1]).decode_payload(body)

    rows = []
    for m, frame, counter in zip(SIGNED_MIX, frames, counters, strict=True):
        enc = rate(functools.partial(signed_encode, m), min_time=0.1)
        dec = rate(functools.partial(signed_decode, frame, counter), min_time=0.1)
        rows.append(
            {
                "message": f"{m.TYPE.name}, signed",
                "bytes": str(len(frame)),
                "encode /s": fmt(enc),
                "baseline encode /s": "",
                "decode /s": fmt(dec),
                "baseline decode /s": "",
            }
        )

    def plain_mix_encode() -> None:
        for m in SIGNED_MIX:
            encode(m, 7)

    def signed_mix_encode() -> None:
        for m in SIGNED_MIX:
            signer.frame(m, 7)

    plain_frames = [encode(m, 7) for m in SIGNED_MIX]

    def plain_mix_decode() -> None:
        for f in plain_frames:
            for fr in plain_decoder.feed(f):
                fr.message()

    def signed_mix_decode() -> None:
        for f, c in zip(frames, counters, strict=True):
            signed_decode(f, c)

    enc_ratio = rate(signed_mix_encode) / rate(plain_mix_encode)
    dec_ratio = rate(signed_mix_decode) / rate(plain_mix_decode)
    return rows, enc_ratio, dec_ratio


def run() -> Report:
    """Measure encode and decode rates for each message of the mix and overall."""
    frames = [encode(m, 7) for m in MIX]
    hand = [(m.TYPE.value, *_hand_values(m)) for m in MIX]
    for (t, v, tail), frame in zip(hand, frames, strict=True):
        assert _hand_encode(t, 7, v, tail) == frame, "baseline must produce the same bytes"

    def ours_encode() -> None:
        for m in MIX:
            encode(m, 7)

    def base_encode() -> None:
        for t, v, tail in hand:
            _hand_encode(t, 7, v, tail)

    decoder = StreamDecoder()
    joined = frames

    def ours_decode() -> None:
        for f in joined:
            for frame in decoder.feed(f):
                frame.message()

    def base_decode() -> None:
        for f in joined:
            _hand_decode(f)

    table = []
    for m, frame, (t, v, tail) in zip(MIX, frames, hand, strict=True):
        one: list[Callable[[], object]] = [
            functools.partial(encode, m, 7),
            functools.partial(_hand_encode, t, 7, v, tail),
            functools.partial(_decode_one, decoder, frame),
            functools.partial(_hand_decode, frame),
        ]
        enc, benc, dec, bdec = (rate(fn, min_time=0.1) for fn in one)
        table.append(
            {
                "message": m.TYPE.name,
                "bytes": str(len(frame)),
                "encode /s": fmt(enc),
                "baseline encode /s": fmt(benc),
                "decode /s": fmt(dec),
                "baseline decode /s": fmt(bdec),
            }
        )
    n = len(MIX)
    enc, benc = rate(ours_encode) * n, rate(base_encode) * n
    dec, bdec = rate(ours_decode) * n, rate(base_decode) * n
    table.append(
        {
            "message": "mix",
            "bytes": "",
            "encode /s": fmt(enc),
            "baseline encode /s": fmt(benc),
            "decode /s": fmt(dec),
            "baseline decode /s": fmt(bdec),
        }
    )
    signed_rows, enc_ratio, dec_ratio = _signed_rates()
    table.extend(signed_rows)
    return Report(
        title="NMP/1 codec: frames per second",
        command="python -m benchmarks codec",
        table=table,
        targets=[
            Target("encode / baseline (mix)", enc / benc, 0.2, ">="),
            Target("decode / baseline (mix)", dec / bdec, 0.2, ">="),
            Target("signed / unsigned encode (steady-rate mix)", enc_ratio, 0.2, ">="),
            Target("signed / unsigned decode (steady-rate mix)", dec_ratio, 0.2, ">="),
        ],
        notes=(
            "Baseline: a hand-written `struct` + `binascii.crc_hqx` codec for the same five "
            "messages, checking the CRC and creating an object per frame. The codec's decode "
            "goes through the streaming decoder (resynchronisation, statistics) as a real link "
            "does. Signed rows: authenticated mode (spec section 10), SET_OUTPUT, SET_HEAT and "
            "KEEPALIVE with their 7-byte trailer; encode signs (HMAC-SHA-256, counter), decode "
            "expands the counter, checks the MAC and parses, through the same streaming "
            "decoder. The signed / unsigned targets compare those three messages with and "
            "without signing, measured in the same run."
        ),
    )
