"""NMP/1 authenticated mode: the golden vectors, signing, checking, the rate limit."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from massager_protocols.nmp import (
    MESSAGES,
    Keepalive,
    MsgType,
    Pair,
    Session,
    SetHeat,
    SetOutput,
    auth,
    decode_frame,
)
from massager_protocols.vectors import load

VECTORS = load("nmp1_auth")
KEY = bytes.fromhex(VECTORS["key"])
NONCE = bytes.fromhex(VECTORS["nonce"])


def reference_tag(key: bytes, nonce: bytes, counter: int, frame: bytes) -> bytes:
    """The tag computed from the spec's words, without the module under test."""
    header = frame[1:5]  # version, length, seq, type
    body = frame[5 : -2 - auth.TRAILER_SIZE]
    data = nonce + counter.to_bytes(4, "little") + header + body
    return hmac.new(key, data, hashlib.sha256).digest()[:5]


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=lambda v: v["name"])
def test_vector_frames_carry_the_reference_tag_and_counter(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["hex"])
    decode_frame(raw)  # an ordinary frame: the CRC covers the trailer
    trailer = raw[-2 - auth.TRAILER_SIZE : -2]
    assert int.from_bytes(trailer[:2], "little") == vector["counter"] & 0xFFFF
    assert trailer[2:] == reference_tag(KEY, NONCE, vector["counter"], raw)


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=lambda v: v["name"])
def test_fields_sign_to_the_vector_bytes(vector: dict[str, Any]) -> None:
    message = MESSAGES[MsgType[vector["message"]]].from_fields(vector["fields"])
    frame = auth.sign_frame(
        KEY, NONCE, vector["counter"], vector["seq"], message.TYPE, message.encode_payload()
    )
    assert frame.hex(" ") == vector["hex"]


def test_key_id_matches_the_vectors_and_the_reference() -> None:
    digest = hmac.new(KEY, b"NMP1 key id", hashlib.sha256).digest()
    assert auth.key_id(KEY) == VECTORS["key_id"] == int.from_bytes(digest[:4], "little")


def test_a_session_refuses_replayed_reordered_foreign_tampered_and_unsigned_frames() -> None:
    verifier = auth.Verifier(KEY, NONCE)
    answers = []
    for step in VECTORS["session"]:
        frame = decode_frame(bytes.fromhex(step["hex"]))
        if frame.msg_type in auth.OPEN_TYPES:
            answers.append("ACK")
            continue
        body = verifier.check(frame.seq, frame.msg_type, frame.payload, now=0.0)
        answers.append("ACK" if body is not None else "NACK NOT_AUTHENTICATED")
    assert answers == [step["reply"] for step in VECTORS["session"]]


@pytest.mark.parametrize(
    "case", VECTORS["expansions"], ids=lambda c: f"{c['last']}+{c['counter_lo']}"
)
def test_counter_expansion_vectors(case: dict[str, int]) -> None:
    counter = auth.expand_counter(case["last"], case["counter_lo"])
    assert counter == case["counter"]
    assert counter > case["last"] and counter & 0xFFFF == case["counter_lo"]


def test_steady_rate_messages_still_fit_one_ble_write_when_signed() -> None:
    for message in (SetOutput(0xFF, 10, 3, 7, 65535), SetHeat(450), Keepalive()):
        assert len(auth.sign_frame(KEY, NONCE, 1, 1, message.TYPE, message.encode_payload())) <= 20


def test_the_signer_numbers_frames_and_the_verifier_accepts_them_in_order() -> None:
    signer = auth.Signer(KEY, Session(0, auth.key_id(KEY), tuple(NONCE)))
    verifier = auth.Verifier(KEY, NONCE)
    for seq in range(1, 5):
        frame = decode_frame(signer.frame(SetHeat(380 + seq), seq))
        body = verifier.check(frame.seq, frame.msg_type, frame.payload, 0.0)
        assert body is not None and SetHeat.decode_payload(body) == SetHeat(380 + seq)
    assert signer.counter == verifier.last == 4


def test_the_signer_leaves_open_types_unsigned() -> None:
    signer = auth.Signer(KEY, Session(0, auth.key_id(KEY), tuple(NONCE)))
    from massager_protocols.nmp import GetStatus, StopAll, encode

    assert signer.frame(StopAll(), 3) == encode(StopAll(), 3)
    assert signer.frame(GetStatus(), 4) == encode(GetStatus(), 4)
    assert signer.counter == 0


def test_the_signer_refuses_a_session_of_another_key() -> None:
    other = bytes.fromhex(VECTORS["other_key"])
    with pytest.raises(auth.KeyMismatch, match="key id"):
        auth.Signer(other, Session(0, auth.key_id(KEY), tuple(NONCE)))


def test_failed_tags_are_rate_limited_even_for_a_correct_frame() -> None:
    other = bytes.fromhex(VECTORS["other_key"])
    verifier = auth.Verifier(KEY, NONCE)
    for counter in range(1, auth.FAILURE_BURST + 1):
        forged = decode_frame(auth.sign_frame(other, NONCE, counter, 1, MsgType.KEEPALIVE, b""))
        assert verifier.check(forged.seq, forged.msg_type, forged.payload, now=0.0) is None
    good = decode_frame(auth.sign_frame(KEY, NONCE, 1, 2, MsgType.KEEPALIVE, b""))
    # the allowance is spent: refused unchecked, until a second has earned one more
    assert verifier.check(good.seq, good.msg_type, good.payload, now=0.5) is None
    assert verifier.check(good.seq, good.msg_type, good.payload, now=0.5 + 1.0) == b""


def test_a_counter_far_beyond_the_last_is_refused() -> None:
    verifier = auth.Verifier(KEY, NONCE)
    far = decode_frame(auth.sign_frame(KEY, NONCE, 0x9000, 1, MsgType.KEEPALIVE, b""))
    assert verifier.check(far.seq, far.msg_type, far.payload, 0.0) is None


def test_key_text_forms() -> None:
    text = VECTORS["key"]
    assert auth.parse_key(text) == KEY
    assert auth.parse_key(" ".join(text[i : i + 4] for i in range(0, 64, 4)).upper()) == KEY
    assert auth.format_key(KEY) == text
    with pytest.raises(auth.KeyFormatError, match="64 hexadecimal digits"):
        auth.parse_key("not a key")
    with pytest.raises(auth.KeyFormatError, match="has 16 bytes"):
        auth.parse_key("00" * 16)


def test_a_pair_message_never_shows_its_key() -> None:
    assert "key" not in repr(Pair(tuple(KEY)))
