"""NMP/1 authenticated mode (spec section 10): signing and checking host frames.

A device in this mode holds a 32-byte secret. Every host frame that changes
state carries a 7-byte trailer at the end of its payload::

    ... message payload ... | counter_lo (u16 LE) | tag (5 bytes)

``tag`` is HMAC-SHA-256 truncated to 40 bits over the link's session nonce
(from SESSION), the full 32-bit counter and the frame from ``version`` to the
last message byte. The counter starts again at 1 for each session nonce and
only the low 16 bits travel: the device expands them to the smallest counter
above the last one it accepted, so a replayed or reordered frame is checked
against a counter it was never signed with and fails.

Sans-I/O like the rest of the package: no clock (callers pass ``now``), no
randomness (the device draws its nonces).
"""

from __future__ import annotations

import binascii
import dataclasses
import hashlib
import hmac
import re
import struct

from massager_protocols.nmp.framing import encode, encode_frame
from massager_protocols.nmp.messages import PROTOCOL_VERSION, Message, MsgType, Session

#: The per-device secret.
KEY_SIZE = 32
#: The session nonce a device draws for each link connection and each new key.
NONCE_SIZE = 8
#: Bytes of the HMAC-SHA-256 output kept: 40 bits.
TAG_SIZE = 5
#: Bytes of the counter on the wire (its low 16 bits).
COUNTER_WIRE_SIZE = 2
#: The trailer at the end of a signed payload.
TRAILER_SIZE = COUNTER_WIRE_SIZE + TAG_SIZE
#: The highest counter of a session; a host then asks for a new session.
COUNTER_MAX = 0xFFFF_FFFF
#: How far past the last accepted counter a frame may be (half the 16-bit space).
COUNTER_WINDOW = 0x8000

#: Host commands that must be signed in authenticated mode.
SIGNED_TYPES = frozenset(
    {
        MsgType.SET_OUTPUT,
        MsgType.SET_HEAT,
        MsgType.KEEPALIVE,
        MsgType.SET_AUTO_OFF,
        MsgType.UPLOAD_PATTERN,
        MsgType.ENTER_TEST_MODE,
        MsgType.TEST_INJECT,
    }
)
#: Host frames a device answers without a key: reading, and stopping.
OPEN_TYPES = frozenset(
    {
        MsgType.GET_INFO,
        MsgType.GET_STATUS,
        MsgType.STOP_ALL,
        MsgType.GET_SESSION,
        MsgType.EXIT_TEST_MODE,  # leaving test mode only stops things (spec section 12.1)
    }
)

#: Holding the button this long opens the pairing window ...
PAIR_HOLD_S = 5.0
#: ... for this long (PAIR is refused outside it).
PAIRING_WINDOW_S = 30.0
#: Holding the button this long erases a paired key (the label secret is the key again).
RESET_HOLD_S = 15.0
#: Failed MACs a link may spend at once ...
FAILURE_BURST = 8
#: ... and the time it takes to earn one more.
FAILURE_REFILL_S = 1.0

_KEY_ID_LABEL = b"NMP1 key id"
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")


class KeyFormatError(ValueError):
    """A secret that is not 32 bytes written as 64 hexadecimal digits."""


def parse_key(text: str) -> bytes:
    """A secret from its written form: 64 hex digits, spaces, dashes or colons allowed.

    That is how a device label prints it and how the key store keeps it.
    """
    digits = re.sub(r"[\s:-]", "", text)
    try:
        key = binascii.unhexlify(digits)
    except (binascii.Error, ValueError):
        raise KeyFormatError(
            "a device secret is 64 hexadecimal digits (0-9, a-f; spaces, dashes and colons "
            "between them are ignored)"
        ) from None
    if len(key) != KEY_SIZE:
        raise KeyFormatError(
            f"a device secret is {KEY_SIZE} bytes (64 hex digits); this one has {len(key)} bytes"
        )
    return key


def format_key(key: bytes) -> str:
    """The written form of a secret: 64 lower-case hex digits."""
    _check_key(key)
    return key.hex()


def key_id(key: bytes) -> int:
    """A 32-bit id of ``key`` (SESSION's ``key_id``): tells a host whether it holds
    the device's key without revealing anything of it."""
    _check_key(key)
    digest = hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).digest()
    value: int = _U32.unpack_from(digest)[0]
    return value


def mac(key: bytes, nonce: bytes, counter: int, seq: int, msg_type: int, payload: bytes) -> bytes:
    """The 5-byte tag of a frame carrying ``payload`` (the message bytes, no trailer)."""
    length = len(payload) + TRAILER_SIZE
    data = nonce + _U32.pack(counter) + bytes((PROTOCOL_VERSION, length, seq, msg_type)) + payload
    return hmac.new(key, data, hashlib.sha256).digest()[:TAG_SIZE]


def sign_frame(
    key: bytes, nonce: bytes, counter: int, seq: int, msg_type: int, payload: bytes
) -> bytes:
    """A whole frame: ``payload``, then the counter's low 16 bits and the tag."""
    if not 1 <= counter <= COUNTER_MAX:
        raise ValueError(f"counter {counter} outside 1..{COUNTER_MAX}")
    tag = mac(key, nonce, counter, seq, msg_type, payload)
    return encode_frame(seq, msg_type, payload + _U16.pack(counter & 0xFFFF) + tag)


def expand_counter(last: int, low: int) -> int:
    """The smallest counter above ``last`` whose low 16 bits are ``low``."""
    candidate = (last & ~0xFFFF) | low
    if candidate <= last:
        candidate += 0x10000
    return candidate


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise KeyFormatError(f"a device secret is {KEY_SIZE} bytes, got {len(key)}")


class KeyMismatch(ValueError):
    """The host's key is not the one the device holds (SESSION's key id differs)."""


class Signer:
    """The host side of one session: signs what must be signed, numbers it.

    Built from the device's SESSION reply; raises ``KeyMismatch`` when its key
    id says the device holds another key (it was reset, or paired elsewhere).
    """

    __slots__ = ("_key", "counter", "nonce")

    def __init__(self, key: bytes, session: Session) -> None:
        _check_key(key)
        if len(session.nonce) != NONCE_SIZE:
            raise ValueError(f"SESSION nonce has {len(session.nonce)} bytes, expected {NONCE_SIZE}")
        if session.key_id != key_id(key):
            raise KeyMismatch(
                f"the device's key id is {session.key_id:08x}, the host's key has {key_id(key):08x}"
            )
        self._key = key
        self.nonce = bytes(session.nonce)
        #: The last counter used; the next signed frame takes the one after.
        self.counter = 0

    def __repr__(self) -> str:
        return f"Signer(nonce={self.nonce.hex()}, counter={self.counter})"

    @property
    def exhausted(self) -> bool:
        """No counter left in this session: ask for a new one (GET_SESSION)."""
        return self.counter >= COUNTER_MAX

    def frame(self, message: Message, seq: int) -> bytes:
        """``message`` as a frame, signed when its type must be."""
        if message.TYPE not in SIGNED_TYPES:
            return encode(message, seq)
        return self.sign(seq, message.TYPE, message.encode_payload())

    def sign(self, seq: int, msg_type: int, payload: bytes) -> bytes:
        """A frame of ``msg_type`` carrying ``payload`` (any bytes), signed with the
        next counter. Every call takes a new counter: a frame sent again (its
        answer was lost) is signed again, never repeated (section 10.2)."""
        if self.exhausted:
            raise ValueError("this session's counters are spent; ask for a new session")
        self.counter += 1
        return sign_frame(self._key, self.nonce, self.counter, seq, msg_type, payload)


@dataclasses.dataclass(slots=True)
class FailureLimit:
    """A token bucket of failed MACs: ``FAILURE_BURST`` at once, one more per
    ``FAILURE_REFILL_S``. While it is empty, a link's signed frames are refused
    unchecked, so guessing a tag costs real time."""

    tokens: float = FAILURE_BURST
    at: float | None = None

    def allows(self, now: float) -> bool:
        """Whether a MAC may be checked at ``now``."""
        if self.at is not None:
            self.tokens = min(
                float(FAILURE_BURST), self.tokens + (now - self.at) / FAILURE_REFILL_S
            )
        self.at = now
        return self.tokens >= 1.0

    def failed(self) -> None:
        """A MAC did not match."""
        self.tokens -= 1.0


class Verifier:
    """The device side of one link's session: checks signed frames.

    :meth:`check` returns the message payload (trailer removed) of a frame
    that is authentic and newer than every frame accepted before, and
    ``None`` otherwise (the device NACKs it NOT_AUTHENTICATED and changes
    nothing).
    """

    __slots__ = ("_key", "last", "limit", "nonce")

    def __init__(self, key: bytes, nonce: bytes) -> None:
        _check_key(key)
        if len(nonce) != NONCE_SIZE:
            raise ValueError(f"a session nonce is {NONCE_SIZE} bytes, got {len(nonce)}")
        self._key = key
        self.nonce = nonce
        #: The counter of the last frame accepted; 0 before the first.
        self.last = 0
        self.limit = FailureLimit()

    def __repr__(self) -> str:
        return f"Verifier(nonce={self.nonce.hex()}, last={self.last})"

    def check(self, seq: int, msg_type: int, payload: bytes, now: float) -> bytes | None:
        """The message payload of an authentic, fresh frame, else ``None``."""
        if len(payload) < TRAILER_SIZE:
            return None  # unsigned: refused, not a guess at the tag
        if not self.limit.allows(now):
            return None
        body = payload[:-TRAILER_SIZE]
        (low,) = _U16.unpack_from(payload, len(body))
        counter = expand_counter(self.last, low)
        expected = mac(self._key, self.nonce, counter, seq, msg_type, body)
        if (
            counter > COUNTER_MAX
            or counter - self.last > COUNTER_WINDOW
            or not hmac.compare_digest(expected, payload[-TAG_SIZE:])
        ):
            self.limit.failed()
            return None
        self.last = counter
        return body
