"""NMP/1 authenticated mode as the simulated firmware keeps it (spec section 10).

A model turns it on in its protocol options::

    [protocol_options]
    auth = true
    label_secret = "0001...1f"   # optional: 64 hex digits; default derived from the serial

The device's label secret is its key until a host pairs; holding the button
for 5 s opens the pairing window for 30 s (:func:`hold_button`), holding it
for 15 s erases the paired key. Each link has its own session (nonce, last
counter, failure allowance); a link that closes forgets it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from massager_protocols.nmp import NackCode, Session, SessionFlag
from massager_protocols.nmp.auth import (
    KEY_SIZE,
    NONCE_SIZE,
    PAIR_HOLD_S,
    PAIRING_WINDOW_S,
    RESET_HOLD_S,
    KeyFormatError,
    Verifier,
    key_id,
    parse_key,
)

if TYPE_CHECKING:
    from massager_simulator.device import SimulatedDevice
    from massager_simulator.link import Port

_OPTIONS = {"auth", "label_secret"}


def label_secret(serial: str) -> bytes:
    """The label secret of a simulated device that names none: derived from its
    serial, so a test or a user can read the "label" (``massager simulate`` prints it)."""
    return hashlib.sha256(b"NMP1 simulated label " + serial.encode()).digest()


class DeviceAuth:
    """Keys, pairing window and per-link sessions of one simulated device."""

    def __init__(self, label_key: bytes, nonce_source: Callable[[], bytes] | None = None) -> None:
        if len(label_key) != KEY_SIZE:
            raise ValueError(f"a label secret is {KEY_SIZE} bytes")
        self.label_key = label_key
        #: The key a host set with PAIR; ``None`` while the label secret is the key.
        self.paired_key: bytes | None = None
        #: When the pairing window closes; ``None`` while it is closed.
        self.window_until: float | None = None
        #: Draws a session nonce (tests may fix it to replay the golden vectors).
        self.nonce_source: Callable[[], bytes] = nonce_source or (lambda: os.urandom(NONCE_SIZE))
        #: What checks a link's signed frames (a test may give firmware with a fault).
        self.verifier_class: type[Verifier] = Verifier
        self._sessions: dict[Port, Verifier] = {}

    def __repr__(self) -> str:
        return f"DeviceAuth(paired={self.paired_key is not None}, links={len(self._sessions)})"

    @classmethod
    def from_options(
        cls, options: dict[str, Any], serial: str, where: str, others: frozenset[str] = frozenset()
    ) -> DeviceAuth | None:
        """The mode from a model's protocol options, or ``None`` when ``auth`` is off.

        ``others`` names the options the protocol reads elsewhere; any other is an error."""
        accepted = _OPTIONS | others
        unknown = set(options) - accepted
        if unknown:
            raise ValueError(
                f"{where}: unknown protocol_options {sorted(unknown)}; accepted: {sorted(accepted)}"
            )
        enabled = options.get("auth", False)
        if not isinstance(enabled, bool):
            raise ValueError(f"{where}: auth = {enabled!r}; accepted: true or false")
        if not enabled:
            return None
        text = options.get("label_secret")
        if text is None:
            return cls(label_secret(serial))
        try:
            return cls(parse_key(str(text)))
        except KeyFormatError as exc:
            raise ValueError(f"{where}: label_secret: {exc}") from None

    @property
    def key(self) -> bytes:
        """The key the device checks frames with now."""
        return self.paired_key if self.paired_key is not None else self.label_key

    def window_open(self, now: float) -> bool:
        """Whether PAIR is accepted at ``now``."""
        return self.window_until is not None and now < self.window_until

    def session(self, port: Port, now: float) -> Session:
        """GET_SESSION: the link's session, drawn on first asking."""
        verifier = self._sessions.get(port)
        if verifier is None:
            verifier = self._sessions[port] = self.verifier_class(self.key, self.nonce_source())
        flags = SessionFlag(0)
        if self.window_open(now):
            flags |= SessionFlag.PAIRING_OPEN
        if self.paired_key is None:
            flags |= SessionFlag.LABEL_KEY
        return Session(int(flags), key_id(self.key), tuple(verifier.nonce))

    def check(
        self, port: Port, seq: int, msg_type: int, payload: bytes, now: float
    ) -> bytes | None:
        """The message payload of an authentic, fresh frame on ``port``, else ``None``."""
        verifier = self._sessions.get(port)
        if verifier is None:
            return None
        return verifier.check(seq, msg_type, payload, now)

    def pair(self, key: tuple[int, ...], now: float) -> int:
        """PAIR: 0 when the key was taken, else the NackCode."""
        if not self.window_open(now) or len(key) != KEY_SIZE:
            return NackCode.NOT_AUTHENTICATED
        self.paired_key = bytes(key)
        self.window_until = None
        self._sessions.clear()  # a new key: every link starts a new session
        return 0

    def hold(self, seconds: float, now: float) -> None:
        """The button was held ``seconds``: opens the window, or resets the key."""
        if seconds >= RESET_HOLD_S:
            self.paired_key = None
            self.window_until = None
            self._sessions.clear()
        elif seconds >= PAIR_HOLD_S:
            self.window_until = now + PAIRING_WINDOW_S

    def restart(self) -> None:
        """The firmware restarted with its links up (a watchdog reset, a brown-out):
        every session and counter is gone; a link's next signed frame is refused
        until its host asks for the session again (a new nonce)."""
        self._sessions.clear()

    def port_closed(self, port: Port) -> None:
        """A link closed: its session and failure allowance go with it."""
        self._sessions.pop(port, None)


def device_auth(device: SimulatedDevice) -> DeviceAuth:
    """The authenticated mode of ``device``; ``ValueError`` if its model has none."""
    found: DeviceAuth | None = getattr(device.personality, "auth", None)
    if found is None:
        raise ValueError(f"model {device.model.name} has no authenticated mode (auth = true)")
    return found


def hold_button(device: SimulatedDevice, seconds: float) -> None:
    """A user holds the device's button for ``seconds``: like any press it stops
    everything; 5 s open the pairing window, 15 s erase the paired key."""
    auth = device_auth(device)
    device.press_button()
    auth.hold(seconds, device._clock_started())
