"""The C wire layer seen from Python (ctypes), for the C tests."""

from __future__ import annotations

import ctypes
import json
from typing import Any

from massager_protocols.nmp import DecoderStats, Frame


class _Frame(ctypes.Structure):
    _fields_ = [
        ("seq", ctypes.c_uint8),
        ("type", ctypes.c_uint8),
        ("length", ctypes.c_uint8),
        ("payload", ctypes.POINTER(ctypes.c_uint8)),
    ]


class _Stats(ctypes.Structure):
    _fields_ = [
        ("frames", ctypes.c_uint32),
        ("bytes_skipped", ctypes.c_uint32),
        ("crc_errors", ctypes.c_uint32),
    ]


_FRAME_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(_Frame))
#: Offsets in nmp1_rx_t: buf[262], uint16_t used, then the stats (4-byte aligned).
_USED_AT = 262
_STATS_AT = 264


def setup(lib: ctypes.CDLL) -> None:
    """Declare the signatures the tests call."""
    lib.nmp1_rx_init.argtypes = [ctypes.c_void_p]
    lib.nmp1_rx_push.argtypes = [ctypes.c_void_p, ctypes.c_uint8, _FRAME_FN, ctypes.c_void_p]
    lib.nmp1_rx_feed.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, _FRAME_FN, ctypes.c_void_p,
    ]  # fmt: skip
    lib.nmp1_rx_expire.argtypes = [ctypes.c_void_p, _FRAME_FN, ctypes.c_void_p]
    lib.nmp1_crc16.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.nmp1_crc16.restype = ctypes.c_uint16
    lib.support_rx_size.restype = ctypes.c_size_t
    lib.support_roundtrip.argtypes = [
        ctypes.c_uint8, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
        ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int),
    ]  # fmt: skip
    lib.support_reframe.argtypes = [
        ctypes.c_uint8, ctypes.c_uint8, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
        ctypes.c_size_t,
    ]  # fmt: skip
    lib.support_reframe.restype = ctypes.c_size_t
    lib.nmp1_frame_encode.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint8, ctypes.c_uint8, ctypes.c_char_p,
        ctypes.c_size_t,
    ]  # fmt: skip
    lib.nmp1_frame_encode.restype = ctypes.c_size_t


class CReceiver:
    """An ``nmp1_rx_t`` fed through ``nmp1_rx_push`` (or ``nmp1_rx_feed``)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        setup(lib)
        self._lib = lib
        size = lib.support_rx_size()
        assert size == _STATS_AT + ctypes.sizeof(_Stats), f"nmp1_rx_t is {size} bytes"
        self._rx = ctypes.create_string_buffer(size)
        lib.nmp1_rx_init(self._rx)
        self._out: list[Frame] = []
        self._callback = _FRAME_FN(self._on_frame)

    def _on_frame(self, _ctx: Any, frame: Any) -> None:
        f = frame.contents
        self._out.append(Frame(f.seq, f.type, bytes(f.payload[: f.length])))

    def push(self, data: bytes) -> list[Frame]:
        """Feed ``data`` one ``nmp1_rx_push`` per byte; the frames completed."""
        self._out = []
        for byte in data:
            self._lib.nmp1_rx_push(self._rx, byte, self._callback, None)
        return self._out

    def feed(self, data: bytes) -> list[Frame]:
        """Feed ``data`` with one ``nmp1_rx_feed``; the frames completed."""
        self._out = []
        self._lib.nmp1_rx_feed(self._rx, data, len(data), self._callback, None)
        return self._out

    def expire(self) -> list[Frame]:
        """Tell the receiver the link has been silent (``nmp1_rx_expire``); the frames out."""
        self._out = []
        self._lib.nmp1_rx_expire(self._rx, self._callback, None)
        return self._out

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete candidate."""
        return int.from_bytes(self._rx.raw[_USED_AT : _USED_AT + 2], "little")

    @property
    def stats(self) -> DecoderStats:
        """The receiver's counters, as the Python decoder names them."""
        s = _Stats.from_buffer_copy(self._rx.raw[_STATS_AT : _STATS_AT + ctypes.sizeof(_Stats)])
        return DecoderStats(s.frames, s.bytes_skipped, s.crc_errors)


def roundtrip(lib: ctypes.CDLL, msg_type: int, payload: bytes) -> tuple[int, Any, bytes | int]:
    """C decodes ``payload`` (result, fields as JSON) and encodes the result again."""
    setup(lib)
    text = ctypes.create_string_buffer(8192)
    again = ctypes.create_string_buffer(512)
    again_length = ctypes.c_int(0)
    result = lib.support_roundtrip(
        msg_type, payload, len(payload), text, len(text), again, len(again),
        ctypes.byref(again_length),
    )  # fmt: skip
    if result != 0:
        return result, None, b""
    n = again_length.value
    return result, json.loads(text.value.decode()), again.raw[:n] if n >= 0 else n
