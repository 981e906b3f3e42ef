"""The Tuya BLE secure session, sans-I/O, for either end of the link.

The host asks DEVICE_INFO under the login key; the device answers with a
6-byte ``srand`` from which both derive the session key; the host then sends
PAIR (uuid, the local key's first 6 characters, device id) under the session
key. The device compares the uuid alone (Tuya's BLE SDK): another uuid is
refused (1); otherwise it answers 0 (it binds now) or 2 (bound already),
whatever device id came, and asks the time (TIME1_REQ), which the host
answers. Everything after that goes under the session key. A device's data
point report is acknowledged by the host.

Neither class does I/O: ``receive`` takes one encrypted message (from a
:class:`~massager_protocols.tuya.packets.Reassembler`) and returns what to
write (fragments, one write each) and what to hand to the layer above.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import time
from collections.abc import Callable

import construct as cs

from massager_protocols.errors import FrameError, MalformedPayload
from massager_protocols.tuya.packets import (
    FRAGMENT_SIZE,
    PROTOCOL_VERSION,
    Code,
    Message,
    Security,
    decrypt,
    encrypt,
    fragment,
    login_key,
    security_of,
    session_key,
)

#: Bytes of a PAIR request's data (uuid, key, device id, zero-padded).
PAIR_SIZE = 44
#: The data of the device's answer to DEVICE_INFO.
DEVICE_INFO = cs.Struct(
    "device_version" / cs.Int8ul[2] * "firmware major, minor",
    "protocol_version" / cs.Int8ul[2] * "protocol major, minor (3.x here)",
    "flags" / cs.Int8ul * "device flags",
    "bound" / cs.Int8ul * "1 when bound to an account",
    "srand" / cs.Bytes(6) * "random bytes for the session key",
    "hardware_version" / cs.Int8ul[2] * "hardware major, minor",
    "auth_key" / cs.Bytes(32) * "the device's auth key",
)
#: The data of a PAIR request.
PAIR_REQUEST = cs.Struct(
    "uuid" / cs.Bytes(16) * "device uuid, ASCII",
    "local_key" / cs.Bytes(6) * "first 6 characters of the local key",
    "device_id" / cs.Bytes(22) * "device id, ASCII, zero-padded to 44 bytes in all",
)


class PairResult:
    """The byte a device answers PAIR with (Tuya's BLE SDK compares only the uuid)."""

    OK = 0  #: the uuid matched; the device was not bound and is now
    REFUSED = 1  #: another uuid; the device drops the link
    ALREADY_PAIRED = 2  #: the uuid matched; the device was bound already


def time1_answer(now_s: float, utc_offset_s: int) -> bytes:
    """The answer to TIME1_REQ: milliseconds since 1970 as 13 ASCII digits, then the
    zone in hundredths of an hour east of UTC (s16, big-endian)."""
    return f"{round(now_s * 1000):013d}".encode() + struct.pack(">h", utc_offset_s // 36)


def time2_answer(now_s: float, utc_offset_s: int) -> bytes:
    """The answer to TIME2_REQ: year % 100, month, day, hour, minute, second, weekday
    (0 Monday), each a byte, of local time, then the zone as in :func:`time1_answer`."""
    t = time.gmtime(now_s + utc_offset_s)
    fields = (t.tm_year % 100, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, t.tm_wday)
    return bytes(fields) + struct.pack(">h", utc_offset_s // 36)


def _local_offset() -> int:
    return time.localtime().tm_gmtoff


@dataclasses.dataclass(frozen=True, slots=True)
class Credentials:
    """What a host needs to talk to one device: from the Tuya IoT platform."""

    local_key: str  #: only its first 6 characters are used
    device_id: str
    uuid: str

    def __post_init__(self) -> None:
        if len(self.local_key) < 6 or not self.local_key.isascii():
            raise MalformedPayload("the local key has at least 6 ASCII characters")
        if len(self.uuid) > 16 or len(self.device_id) > 22:
            raise MalformedPayload("the uuid has at most 16 characters, the device id 22")

    def pair_data(self) -> bytes:
        """The PAIR request's data."""
        data = self.uuid.encode() + self.local_key[:6].encode() + self.device_id.encode()
        return data + bytes(PAIR_SIZE - len(data))


@dataclasses.dataclass(slots=True)
class Output:
    """What one received message asks of the caller."""

    writes: list[bytes] = dataclasses.field(default_factory=list)  #: fragments, one write each
    messages: list[Message] = dataclasses.field(default_factory=list)  #: for the layer above
    paired: bool | None = None  #: pairing just succeeded (True) or was refused (False)
    pair_result: int | None = None


class _Channel:
    """What both ends share: keys, numbering, encryption and fragments."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        iv: Callable[[], bytes] = lambda: os.urandom(16),
        fragment_size: int = FRAGMENT_SIZE,
        version: int = PROTOCOL_VERSION,
    ) -> None:
        self.credentials = credentials
        self.login_key = login_key(credentials.local_key)
        self.session_key: bytes | None = None
        self.paired = False
        self._iv = iv
        self._seq = 0
        self._frames = 0
        self.fragment_size = fragment_size
        self.version = version

    def next_frame_seq(self) -> int:
        """The first fragment's 4-bit frame sequence for the next message."""
        seq, self._frames = self._frames, (self._frames + 1) % 16
        return seq

    def next_seq(self) -> int:
        """The next message number (1, 2, ...)."""
        self._seq = self._seq % 0xFFFFFFFF + 1
        return self._seq

    def seal(self, code: int, data: bytes, response_to: int = 0) -> tuple[int, list[bytes]]:
        """``(seq, fragments)`` of a message; DEVICE_INFO under the login key, the rest
        under the session key."""
        seq = self.next_seq()
        message = Message(seq, response_to, code, data)
        if code == Code.DEVICE_INFO:
            key, flag = self.login_key, Security.LOGIN_KEY
        elif self.session_key is not None:
            key, flag = self.session_key, Security.SESSION_KEY
        else:
            raise MalformedPayload(f"no session key yet to send code 0x{code:04X}")
        envelope = encrypt(message, key, int(flag), self._iv())
        return seq, fragment(envelope, self.version, self.fragment_size, self.next_frame_seq())

    def open(self, envelope: bytes) -> Message:
        """Decrypt a received message with the key its flag names."""
        flag = security_of(envelope)
        if flag == Security.LOGIN_KEY:
            return decrypt(envelope, self.login_key)
        if flag == Security.SESSION_KEY and self.session_key is not None:
            return decrypt(envelope, self.session_key)
        raise FrameError(f"no key for security flag {flag}")


class HostChannel(_Channel):
    """The host's end: key exchange, pairing, acknowledging reports, telling the time."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        iv: Callable[[], bytes] = lambda: os.urandom(16),
        fragment_size: int = FRAGMENT_SIZE,
        clock: Callable[[], float] = time.time,
        utc_offset: Callable[[], int] = _local_offset,
    ) -> None:
        super().__init__(credentials, iv=iv, fragment_size=fragment_size)
        self._clock = clock
        self._utc_offset = utc_offset
        self._info_seq = 0
        self._pair_seq = 0
        #: The device's DEVICE_INFO answer, once it came.
        self.device_info: cs.Container | None = None

    def start(self) -> list[bytes]:
        """Forget any session and ask DEVICE_INFO; returns the fragments to write."""
        self.session_key = None
        self.paired = False
        self._info_seq, writes = self.seal(Code.DEVICE_INFO, b"")
        return writes

    def receive(self, envelope: bytes) -> Output:
        """Handle one encrypted message from the device."""
        message = self.open(envelope)
        out = Output()
        if message.code == Code.DEVICE_INFO and message.response_to == self._info_seq:
            try:
                info = DEVICE_INFO.parse(message.data)
            except cs.ConstructError:
                raise FrameError(
                    f"DEVICE_INFO answer of {len(message.data)} bytes, needs 46"
                ) from None
            self.device_info = info
            self.session_key = session_key(self.credentials.local_key, info.srand)
            self._pair_seq, out.writes = self.seal(Code.PAIR, self.credentials.pair_data())
        elif message.code == Code.PAIR and message.response_to == self._pair_seq:
            result = message.data[0] if message.data else PairResult.REFUSED
            self.paired = result in (PairResult.OK, PairResult.ALREADY_PAIRED)
            out.paired, out.pair_result = self.paired, result
        elif message.code == Code.RECEIVE_DP:
            _, out.writes = self.seal(Code.RECEIVE_DP, b"", message.seq)
            out.messages.append(message)
        elif message.code in (Code.TIME1_REQ, Code.TIME2_REQ) and self.session_key is not None:
            answer = time1_answer if message.code == Code.TIME1_REQ else time2_answer
            data = answer(self._clock(), self._utc_offset())
            _, out.writes = self.seal(message.code, data, message.seq)
        elif message.code == Code.RECEIVE_SIGN_DP and len(message.data) >= 3:
            ack = struct.pack(">HBB", int.from_bytes(message.data[:2], "big"), message.data[2], 0)
            _, out.writes = self.seal(Code.RECEIVE_SIGN_DP, ack, message.seq)
            out.messages.append(message)
        elif self.paired:
            out.messages.append(message)
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """What a device tells about itself in DEVICE_INFO."""

    device_version: tuple[int, int] = (1, 1)
    hardware_version: tuple[int, int] = (1, 0)
    auth_key: bytes = bytes(32)
    bound: bool = True


class DeviceChannel(_Channel):
    """The device's end as Tuya's BLE SDK has it: answers DEVICE_INFO and PAIR (the
    uuid alone decides), asks the time after pairing, then passes messages up.

    Its frame sequence counts 0..15 once, then stays 0, as the SDK's counter does.
    """

    def __init__(
        self,
        credentials: Credentials,
        identity: DeviceIdentity,
        srand: bytes,
        *,
        iv: Callable[[], bytes] = lambda: os.urandom(16),
        fragment_size: int = FRAGMENT_SIZE,
    ) -> None:
        super().__init__(credentials, iv=iv, fragment_size=fragment_size)
        if len(srand) != 6:
            raise MalformedPayload("srand is 6 bytes")
        self.identity = identity
        self.srand = srand
        #: Bound to an account: set by the first PAIR with this device's uuid.
        self.bound = identity.bound

    def next_frame_seq(self) -> int:
        """0, 1, ... 15, then 0 for ever (the SDK never wraps its counter)."""
        seq = self._frames if self._frames < 16 else 0
        self._frames = min(self._frames + 1, 16)
        return seq

    def info_data(self) -> bytes:
        """This device's DEVICE_INFO answer."""
        data: bytes = DEVICE_INFO.build(
            {
                "device_version": list(self.identity.device_version),
                "protocol_version": [self.version, 0],
                "flags": 0,
                "bound": int(self.bound),
                "srand": self.srand,
                "hardware_version": list(self.identity.hardware_version),
                "auth_key": self.identity.auth_key,
            }
        )
        return data

    def receive(self, envelope: bytes) -> Output:
        """Handle one encrypted message from the host."""
        message = self.open(envelope)
        out = Output()
        if message.code == Code.DEVICE_INFO:
            # The answer goes under the login key: the host has no session key yet.
            session = session_key(self.credentials.local_key, self.srand)
            self.session_key, self.paired = None, False
            _, out.writes = self.seal(Code.DEVICE_INFO, self.info_data(), message.seq)
            self.session_key = session
        elif message.code == Code.PAIR:
            # Only the 16-byte uuid is compared; the device id may be anything.
            ok = message.data[:16] == self.credentials.pair_data()[:16]
            result = (
                PairResult.ALREADY_PAIRED if ok and self.bound else
                PairResult.OK if ok else PairResult.REFUSED
            )  # fmt: skip
            self.paired = ok
            self.bound = self.bound or ok
            out.paired, out.pair_result = ok, result
            _, out.writes = self.seal(Code.PAIR, bytes([result]), message.seq)
            if ok:  # the SDK asks the time after every successful pairing
                _, asks = self.seal(Code.TIME1_REQ, b"")
                out.writes += asks
        elif self.paired:
            out.messages.append(message)
        return out
