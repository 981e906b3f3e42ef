"""The C authenticated mode (protocols/c/nmp1_auth.c) against the FIPS 180-4
examples, Python's HMAC and every vector of nmp1_auth.json (spec section 10)."""

from __future__ import annotations

import ctypes
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from massager_protocols.nmp.auth import SIGNED_TYPES

from tests.c.cbuild import C_DIR, STRICT, compiler, run

VECTORS = json.loads(
    (C_DIR.parent / "massager_protocols" / "vectors" / "nmp1_auth.json").read_text("utf-8")
)


class _Link(ctypes.Structure):
    _fields_ = [
        ("key", ctypes.c_uint8 * 32),
        ("nonce", ctypes.c_uint8 * 8),
        ("last", ctypes.c_uint32),
        ("credit_ms", ctypes.c_uint32),
        ("at_ms", ctypes.c_uint32),
        ("active", ctypes.c_uint8),
    ]


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    out: Path = tmp_path_factory.mktemp("nmp1_auth") / "libnmp1_auth.so"
    run([compiler(), *STRICT, "-O2", "-fPIC", "-shared", f"-I{C_DIR}",
         C_DIR / "nmp1_auth.c", "-o", out])  # fmt: skip
    made = ctypes.CDLL(str(out))
    made.nmp1_auth_key_id.restype = ctypes.c_uint32
    made.nmp1_auth_expand.restype = ctypes.c_uint64
    made.nmp1_auth_expand.argtypes = [ctypes.c_uint32, ctypes.c_uint16]
    made.nmp1_auth_check.restype = ctypes.c_int
    made.nmp1_auth_check.argtypes = [
        ctypes.POINTER(_Link), ctypes.c_uint8, ctypes.c_uint8, ctypes.c_char_p,
        ctypes.c_uint8, ctypes.c_uint32,
    ]  # fmt: skip
    made.nmp1_auth_start.argtypes = [
        ctypes.POINTER(_Link),
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_uint32,
    ]
    return made


def sha256(lib: ctypes.CDLL, data: bytes) -> bytes:
    out = ctypes.create_string_buffer(32)
    lib.nmp1_sha256(data, ctypes.c_size_t(len(data)), out)
    return out.raw


def hmac_sha256(lib: ctypes.CDLL, key: bytes, data: bytes) -> bytes:
    out = ctypes.create_string_buffer(32)
    lib.nmp1_hmac_sha256(key, ctypes.c_size_t(len(key)), data, ctypes.c_size_t(len(data)), out)
    return out.raw


@pytest.mark.parametrize(
    ("message", "digest"),
    [
        (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",  # 448 bits
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
    ],
    ids=["abc", "empty", "448-bit"],
)
def test_sha256_gives_the_fips_180_examples(lib: ctypes.CDLL, message: bytes, digest: str) -> None:
    assert sha256(lib, message).hex() == digest


def test_sha256_of_a_million_a(lib: ctypes.CDLL) -> None:
    digest = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    assert sha256(lib, b"a" * 1_000_000).hex() == digest


@given(st.binary(max_size=200), st.binary(max_size=300))
def test_hmac_and_sha256_agree_with_python_at_every_length(
    lib: ctypes.CDLL, key: bytes, data: bytes
) -> None:
    assert sha256(lib, data) == hashlib.sha256(data).digest()
    assert hmac_sha256(lib, key, data) == hmac.new(key, data, hashlib.sha256).digest()


def test_the_key_id_is_the_vectors(lib: ctypes.CDLL) -> None:
    assert lib.nmp1_auth_key_id(bytes.fromhex(VECTORS["key"])) == VECTORS["key_id"]


def test_counter_expansion_is_the_vectors(lib: ctypes.CDLL) -> None:
    for case in VECTORS["expansions"]:
        assert lib.nmp1_auth_expand(case["last"], case["counter_lo"]) == case["counter"], case


def test_every_signed_frame_of_the_vectors_gets_its_tag(lib: ctypes.CDLL) -> None:
    key, nonce = bytes.fromhex(VECTORS["key"]), bytes.fromhex(VECTORS["nonce"])
    for case in VECTORS["frames"]:
        frame = bytes.fromhex(case["hex"])
        payload = frame[5:-2]
        body, trailer = payload[:-7], payload[-7:]
        assert int.from_bytes(trailer[:2], "little") == case["counter"] & 0xFFFF
        tag = ctypes.create_string_buffer(5)
        lib.nmp1_auth_tag(
            key, nonce, ctypes.c_uint32(case["counter"]), ctypes.c_uint8(frame[3]),
            ctypes.c_uint8(frame[4]), body, ctypes.c_uint8(len(body)), tag,
        )  # fmt: skip
        assert tag.raw == trailer[2:], case["name"]


def _start(lib: ctypes.CDLL, now_ms: int = 0) -> _Link:
    link = _Link()
    lib.nmp1_auth_start(
        ctypes.byref(link), bytes.fromhex(VECTORS["key"]), bytes.fromhex(VECTORS["nonce"]), now_ms
    )
    return link


def _check(lib: ctypes.CDLL, link: _Link, frame: bytes, now_ms: int = 0) -> int:
    payload = frame[5:-2]
    return int(
        lib.nmp1_auth_check(ctypes.byref(link), frame[3], frame[4], payload, len(payload), now_ms)
    )


def test_the_vector_session_is_accepted_and_refused_frame_by_frame(lib: ctypes.CDLL) -> None:
    link = _start(lib)
    checked = 0
    for step in VECTORS["session"]:
        frame = bytes.fromhex(step["hex"])
        if frame[4] not in SIGNED_TYPES:
            continue  # STOP_ALL and the like are never checked
        length = _check(lib, link, frame)
        if step["reply"] == "ACK":
            assert length == len(frame) - 7 - 7, step["name"]
        else:
            assert length == -1, step["name"]
        checked += 1
    assert checked == len(VECTORS["session"]) - 1


def test_past_eight_bad_tags_even_a_correct_frame_waits_for_the_refill(lib: ctypes.CDLL) -> None:
    link = _start(lib, now_ms=0xFFFF_F000)  # the millisecond clock wraps on the way
    signed = [bytes.fromhex(s["hex"]) for s in VECTORS["session"] if s["reply"] == "ACK"]
    first = signed[0]
    forged = first[:-3] + bytes([first[-3] ^ 1]) + first[-2:]  # one tag bit flipped
    for _ in range(8):
        assert _check(lib, link, forged, 0xFFFF_F000) == -1
    assert _check(lib, link, first, 0xFFFF_F000) == -1  # allowance spent: not even computed
    assert _check(lib, link, first, 0xFFFF_F000 + 999) == -1
    assert _check(lib, link, first, 0xFFFF_F000 + 1000 + 0x10) == len(first) - 14  # wrapped
    assert link.last == 1


def test_a_link_without_a_session_refuses_everything(lib: ctypes.CDLL) -> None:
    link = _start(lib)
    lib.nmp1_auth_end(ctypes.byref(link))
    assert bytes(link.key) == bytes(32)
    first = bytes.fromhex(VECTORS["session"][1]["hex"])
    assert _check(lib, link, first) == -1
