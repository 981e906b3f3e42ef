"""The Tuya BLE secure session, sans-I/O, for either end of the link.

The host asks DEVICE_INFO under the login key; the device answers with a
6-byte ``srand`` from which both derive the session key; the host then sends
PAIR (uuid, the local key's first 6 characters, device id) under the session
key and the device answers 0 (paired), 2 (already paired) or 1 (refused).
Everything after that goes under the session key. A device's data point
report is acknowledged by the host.

Neither class does I/O: ``receive`` takes one encrypted message (from a
:class:`~massager_protocols.tuya.packets.Reassembler`) and returns what to
write (fragments, one write each) and what to hand to the layer above.
"""

from __future__ import annotations

import dataclasses
import os
import struct
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
    """The byte a device answers PAIR with."""

    OK = 0
    REFUSED = 1
    ALREADY_PAIRED = 2


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
        self.fragment_size = fragment_size
        self.version = version

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
        return seq, fragment(envelope, self.version, self.fragment_size)

    def open(self, envelope: bytes) -> Message:
        """Decrypt a received message with the key its flag names."""
        flag = security_of(envelope)
        if flag == Security.LOGIN_KEY:
            return decrypt(envelope, self.login_key)
        if flag == Security.SESSION_KEY and self.session_key is not None:
            return decrypt(envelope, self.session_key)
        raise FrameError(f"no key for security flag {flag}")


class HostChannel(_Channel):
    """The host's end: key exchange, pairing, acknowledging reports."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        iv: Callable[[], bytes] = lambda: os.urandom(16),
        fragment_size: int = FRAGMENT_SIZE,
    ) -> None:
        super().__init__(credentials, iv=iv, fragment_size=fragment_size)
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
    """The device's end: answers DEVICE_INFO and PAIR, then passes messages up."""

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

    def info_data(self) -> bytes:
        """This device's DEVICE_INFO answer."""
        data: bytes = DEVICE_INFO.build(
            {
                "device_version": list(self.identity.device_version),
                "protocol_version": [self.version, 0],
                "flags": 0,
                "bound": int(self.identity.bound),
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
            ok = message.data[:PAIR_SIZE] == self.credentials.pair_data()
            result = (
                PairResult.ALREADY_PAIRED if ok and self.paired else
                PairResult.OK if ok else PairResult.REFUSED
            )  # fmt: skip
            self.paired = ok
            out.paired, out.pair_result = ok, result
            _, out.writes = self.seal(Code.PAIR, bytes([result]), message.seq)
        elif self.paired:
            out.messages.append(message)
        return out
