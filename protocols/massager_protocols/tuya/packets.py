"""Tuya BLE: messages, their encryption, and their fragments on the air.

Three layers, innermost first (``protocols/specs/tuya_ble.md`` has the tables):

1. A message: ``seq`` (u32), ``response_to`` (u32, 0 for a request),
   ``code`` (u16), ``length`` (u16), ``data``, then CRC-16/MODBUS of all that
   (u16); every integer big-endian. Zero bytes pad it to a multiple of 16.
2. Encryption: one security-flag byte naming the key, a random 16-byte IV,
   then the padded message under AES-128-CBC.
3. Fragments of at most 20 bytes (one BLE write or notification each): a
   varint packet number; the first fragment also carries the varint length of
   the encrypted message and a byte ``protocol_version << 4 | frame_seq``
   (a 4-bit message counter the receiver does not check).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import struct

import construct as cs
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from massager_protocols.errors import FrameError, MalformedPayload

#: Bytes of one fragment (the ATT payload at the default MTU of 23).
FRAGMENT_SIZE = 20
#: The protocol version the first fragment announces.
PROTOCOL_VERSION = 3
#: An encrypted message longer than this is refused (the largest a device sends is far smaller).
MAX_MESSAGE = 1024
HEADER = struct.Struct(">IIHH")


class Code(enum.IntEnum):
    """Message codes. Host requests are below 0x8000, device-initiated above."""

    DEVICE_INFO = 0x0000  #: host: who are you; device: versions, srand, auth key
    PAIR = 0x0001  #: host: uuid, local key, device id; device: 0 ok, 1 refused, 2 already paired
    DPS = 0x0002  #: host: write data points; device: 0 ok
    DEVICE_STATUS = 0x0003  #: host: report every data point; device: 0 ok, then a DP report
    UNBIND = 0x0005  #: host: forget the pairing (not used here)
    DEVICE_RESET = 0x0006  #: host: factory reset (not used here)
    RECEIVE_DP = 0x8001  #: device: data points changed; host answers with empty data
    RECEIVE_TIME_DP = 0x8003  #: device: a DP report with a timestamp
    RECEIVE_SIGN_DP = 0x8004  #: device: a DP report with a report number and flags
    RECEIVE_SIGN_TIME_DP = 0x8005  #: device: both of the above
    TIME1_REQ = 0x8011  #: device: asks the time (milliseconds as text, zone)
    TIME2_REQ = 0x8012  #: device: asks the time (date fields, zone)


class Security(enum.IntEnum):
    """The security flag: which key encrypted a message."""

    AUTH_KEY = 1  #: the device's auth key (not used by this host)
    LOGIN_KEY = 4  #: MD5 of the local key's first 6 characters
    SESSION_KEY = 5  #: MD5 of the local key's first 6 characters and the device's srand


#: The plaintext message as construct sees it (before padding).
MESSAGE = cs.Struct(
    "seq" / cs.Int32ub * "sender's message number, from 1",
    "response_to" / cs.Int32ub * "the seq this answers; 0 for a request or report",
    "code" / cs.Int16ub * "message code (table below)",
    "length" / cs.Rebuild(cs.Int16ub, cs.len_(cs.this.data)) * "bytes of data",
    "data" / cs.Bytes(cs.this.length) * "the code's data",
    "crc"
    / cs.Checksum(
        cs.Int16ub,
        lambda body: crc16_modbus(body),
        lambda ctx: HEADER.pack(ctx.seq, ctx.response_to, ctx.code, ctx.length) + ctx.data,
    )
    * "CRC-16/MODBUS over seq..data",
)
#: The encrypted message.
ENVELOPE = cs.Struct(
    "security" / cs.Int8ul * "key: 4 login key, 5 session key (1 auth key)",
    "iv" / cs.Bytes(16) * "AES-CBC initialisation vector, random per message",
    "ciphertext" / cs.GreedyBytes * "the message zero-padded to 16-byte blocks, AES-128-CBC",
)
#: The first fragment of a message (later fragments: packet number, then data).
FIRST_FRAGMENT = cs.Struct(
    "packet" / cs.Const(0, cs.VarInt) * "packet number, varint (0 for the first)",
    "length" / cs.VarInt * "bytes of the encrypted message, varint",
    "version" / cs.Int8ul * "protocol version << 4 | frame sequence (0..15)",
    "data" / cs.GreedyBytes * "the encrypted message's first bytes, to 20 in all",
)


def crc16_modbus(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/MODBUS: reflected poly 0xA001, init 0xFFFF (check ``b"123456789"`` = 0x4B37)."""
    crc = 0xFFFF
    for byte in bytes(data):
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def login_key(local_key: str) -> bytes:
    """The key of DEVICE_INFO: MD5 of the local key's first 6 characters."""
    return hashlib.md5(local_key[:6].encode(), usedforsecurity=False).digest()


def session_key(local_key: str, srand: bytes) -> bytes:
    """The key after DEVICE_INFO: MD5 of the local key's first 6 characters and srand."""
    return hashlib.md5(local_key[:6].encode() + srand, usedforsecurity=False).digest()


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """A decrypted message."""

    seq: int
    response_to: int
    code: int
    data: bytes

    def plaintext(self) -> bytes:
        """Header, data and CRC (before padding)."""
        if not (0 <= self.seq <= 0xFFFFFFFF and 0 <= self.response_to <= 0xFFFFFFFF):
            raise MalformedPayload(f"seq {self.seq} and response_to must each fit 32 bits")
        if not 0 <= self.code <= 0xFFFF or len(self.data) > 0xFFFF:
            raise MalformedPayload(f"code 0x{self.code:X} or {len(self.data)} data bytes too big")
        body = HEADER.pack(self.seq, self.response_to, self.code, len(self.data)) + self.data
        return body + struct.pack(">H", crc16_modbus(body))

    @classmethod
    def parse(cls, plaintext: bytes) -> Message:
        """A message from decrypted bytes (padding after the CRC is ignored)."""
        if len(plaintext) < HEADER.size:
            raise FrameError(f"message of {len(plaintext)} bytes is shorter than its header")
        seq, response_to, code, length = HEADER.unpack_from(plaintext)
        end = HEADER.size + length
        if len(plaintext) < end + 2:
            raise FrameError(f"message says {length} data bytes; only {len(plaintext)} in all")
        (crc,) = struct.unpack_from(">H", plaintext, end)
        expected = crc16_modbus(plaintext[:end])
        if crc != expected:
            raise FrameError(f"message CRC is 0x{crc:04X}, computed 0x{expected:04X}")
        return cls(seq, response_to, code, bytes(plaintext[HEADER.size : end]))


def _cipher(key: bytes, iv: bytes) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def encrypt(message: Message, key: bytes, security: int, iv: bytes) -> bytes:
    """The encrypted message: security flag, IV, AES-128-CBC of the zero-padded plaintext."""
    if len(key) != 16 or len(iv) != 16:
        raise MalformedPayload("the key and the IV are 16 bytes each")
    plain = message.plaintext()
    plain += bytes(-len(plain) % 16)
    encryptor = _cipher(key, iv).encryptor()
    return bytes([security]) + iv + encryptor.update(plain) + encryptor.finalize()


def security_of(envelope: bytes) -> int:
    """The security flag of an encrypted message."""
    if not envelope:
        raise FrameError("an encrypted message has at least its security flag")
    return envelope[0]


def decrypt(envelope: bytes, key: bytes) -> Message:
    """Decrypt and check a message. ``FrameError`` when it is malformed or the key is wrong."""
    if len(envelope) < 33 or (len(envelope) - 17) % 16:
        raise FrameError(
            f"an encrypted message is 1 + 16 + a multiple of 16 bytes, got {len(envelope)}"
        )
    decryptor = _cipher(key, envelope[1:17]).decryptor()
    plain = decryptor.update(envelope[17:]) + decryptor.finalize()
    try:
        return Message.parse(plain)
    except FrameError as exc:
        raise FrameError(f"{exc} (a wrong key decrypts to noise)") from None


def varint(value: int) -> bytes:
    """Seven bits a byte, least significant first; the top bit says more follow."""
    if value < 0:
        raise MalformedPayload(f"a varint is not negative, got {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(data: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """``(value, next position)``, ``None`` if the varint is not complete yet.

    ``FrameError`` for a varint longer than 4 bytes.
    """
    value = 0
    for offset in range(4):
        if pos + offset >= len(data):
            return None
        byte = data[pos + offset]
        value |= (byte & 0x7F) << (7 * offset)
        if not byte & 0x80:
            return value, pos + offset + 1
    raise FrameError("a varint longer than 4 bytes")


def fragment(
    envelope: bytes,
    version: int = PROTOCOL_VERSION,
    size: int = FRAGMENT_SIZE,
    frame_seq: int = 0,
) -> list[bytes]:
    """Cut an encrypted message into fragments of at most ``size`` bytes.

    ``frame_seq`` (0..15) goes in the low nibble of the first fragment's version byte.
    """
    if not 0 <= frame_seq <= 0x0F:
        raise MalformedPayload(f"the frame sequence is 0..15, got {frame_seq}")
    out: list[bytes] = []
    pos, number = 0, 0
    while pos < len(envelope) or not out:
        head = varint(number)
        if number == 0:
            head += varint(len(envelope)) + bytes([((version << 4) | frame_seq) & 0xFF])
        room = size - len(head)
        if room <= 0:
            raise MalformedPayload(f"fragment size {size} leaves no room for data")
        piece = envelope[pos : pos + room]
        out.append(head + piece)
        pos += len(piece)
        number += 1
    return out


@dataclasses.dataclass(slots=True)
class ReassemblerStats:
    """What a reassembler saw."""

    messages: int = 0
    bytes_skipped: int = 0
    errors: int = 0


class Reassembler:
    """Fragments in, encrypted messages out; over a packet link or a byte stream.

    ``feed_packet`` takes one BLE write or notification (one fragment).
    ``feed`` takes a byte stream cut anywhere: every fragment but a message's
    last is exactly ``size`` bytes, so the stream can be cut back into
    fragments. A fragment out of order drops the message under way; a stream
    then resynchronises by skipping a byte at a time to the next plausible
    first fragment.
    """

    def __init__(self, size: int = FRAGMENT_SIZE) -> None:
        self.size = size
        self.stats = ReassemblerStats()
        self.version: int | None = None  #: the version the last first fragment announced
        self.frame_seq: int | None = None  #: the frame sequence nibble it carried
        self._buf = bytearray()  # stream bytes not yet cut into fragments
        self._message = bytearray()
        self._expected = 0  # bytes of the message under way
        self._next = 0  # packet number wanted next

    @property
    def buffered(self) -> int:
        """Bytes held: stream bytes not yet cut, and the message under way."""
        return len(self._buf) + len(self._message)

    def reset(self) -> None:
        """Drop the message under way."""
        self.stats.bytes_skipped += self.buffered
        self._buf.clear()
        self._drop()

    def _drop(self) -> None:
        self._message.clear()
        self._expected = 0
        self._next = 0

    def feed_packet(self, packet: bytes) -> list[bytes]:
        """One fragment; returns the encrypted message it completes, if any."""
        try:
            out = self._take(bytes(packet), len(packet))
        except FrameError:
            self.stats.errors += 1
            self.stats.bytes_skipped += len(packet) + len(self._message)
            self._drop()
            return []
        return [] if out is None else out[0]

    def _take(self, data: bytes, available: int) -> tuple[list[bytes], int] | None:
        """Parse one fragment at the start of ``data``; ``None`` until it is all there.

        Returns the completed messages and how many bytes the fragment took.
        """
        head = read_varint(data, 0)
        if head is None:
            return None
        number, pos = head
        if number == 0:
            length = read_varint(data, pos)
            if length is None or length[1] >= len(data):
                return None
            total, pos = length
            if not 33 <= total <= MAX_MESSAGE or (total - 17) % 16:
                raise FrameError(f"a first fragment announcing {total} bytes")
            self._drop()
            self._expected = total
            self.version, self.frame_seq = data[pos] >> 4, data[pos] & 0x0F
            pos += 1
        elif number != self._next or not self._expected:
            raise FrameError(f"fragment {number} where {self._next} was expected")
        room = min(self.size - pos, self._expected - len(self._message))
        if available < self.size and available - pos < room:
            return None  # a stream: wait for the rest of this fragment
        self._message += data[pos : pos + room]
        self._next = number + 1
        used = pos + room
        if len(self._message) == self._expected:
            message = bytes(self._message)
            self._drop()
            self.stats.messages += 1
            return [message], used
        return [], used

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Stream bytes cut anywhere; returns every encrypted message they complete."""
        buf = self._buf
        buf += data
        out: list[bytes] = []
        while buf:
            try:
                taken = self._take(bytes(buf[: self.size]), len(buf))
            except FrameError:
                self.stats.errors += 1
                self.stats.bytes_skipped += 1 + len(self._message)
                self._drop()
                del buf[:1]
                continue
            if taken is None:
                break
            messages, used = taken
            out += messages
            del buf[:used]
        return out


class MessageStream:
    """Plaintext messages (header, data, CRC, no padding) from a byte stream.

    The host's secure channel hands decrypted messages up in this form; a
    message that fails its CRC is skipped a byte at a time.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.skipped = 0

    def feed(self, data: bytes | bytearray | memoryview) -> list[Message]:
        """Add bytes; return every message they complete."""
        buf = self._buf
        buf += data
        out: list[Message] = []
        while len(buf) >= HEADER.size:
            length = int.from_bytes(buf[10:12], "big")
            end = HEADER.size + length + 2
            if len(buf) < end:
                break
            try:
                out.append(Message.parse(bytes(buf[:end])))
            except FrameError:
                self.skipped += 1
                del buf[:1]
                continue
            del buf[:end]
        return out

    def reset(self) -> None:
        """Drop any partial message."""
        self.skipped += len(self._buf)
        self._buf.clear()


def open_envelope(envelope: bytes) -> tuple[int, bytes, bytes]:
    """``(security flag, iv, ciphertext)`` of an encrypted message, without a key."""
    if len(envelope) < 33 or (len(envelope) - 17) % 16:
        raise FrameError(
            f"an encrypted message is 1 + 16 + a multiple of 16 bytes, got {len(envelope)}"
        )
    return envelope[0], bytes(envelope[1:17]), bytes(envelope[17:])
