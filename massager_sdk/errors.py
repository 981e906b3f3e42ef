"""Errors raised by massager-sdk. Catch :class:`MassagerError` for all of them."""

from __future__ import annotations


class MassagerError(Exception):
    """Base class of every error this SDK raises on purpose."""


class BadURLError(MassagerError, ValueError):
    """A device URL that no transport accepts. The message names the accepted forms."""


class ConnectionFailed(MassagerError, ConnectionError):
    """The device could not be reached, or the link was lost and not regained."""


class BluetoothUnavailable(ConnectionFailed):
    """Bluetooth cannot be used here; the message says why (no adapter, powered
    off, no permission, the system's Bluetooth service not running...)."""

    def __init__(self, why: str) -> None:
        self.why = why
        super().__init__(f"Bluetooth unavailable: {why}")


class LinkTooSlow(ConnectionFailed):
    """The link's round trips are too long for the device's watchdog: the session
    stopped the device and ended. The message names the measured round trip."""


class DeviceTimeout(MassagerError, TimeoutError):
    """The device did not answer in time (after the bounded retries)."""


class DeviceRefused(MassagerError):
    """The device answered a command with a NACK; nothing was changed.

    ``reason`` is the NACK code's name (``OUT_OF_RANGE``, ``HEAT_LOCKED``...).
    """

    def __init__(self, command: str, reason: str, detail: str = "") -> None:
        self.command = command
        self.reason = reason
        text = f"device refused {command}: {reason}"
        super().__init__(f"{text} ({detail})" if detail else text)


class NotSupported(MassagerError):
    """The device lacks the capability a call needs (no heater, no patterns...)."""


class NotInControl(MassagerError):
    """An output call on a monitoring connection (``connect(control=False)``).

    A monitor reads status and events and may stop the device; driving outputs,
    heat or the auto-off needs a connection made with ``control=True``.
    """


class SafetyRefusal(MassagerError):
    """The safety policy refused a command. Nothing was sent.

    ``limit`` names the limit, ``requested`` the value asked for and ``allowed``
    the most the policy allows now (``None`` when nothing is allowed).
    """

    def __init__(self, limit: str, requested: object, allowed: object, detail: str = "") -> None:
        self.limit = limit
        self.requested = requested
        self.allowed = allowed
        self.detail = detail
        text = f"safety limit {str(limit)!r}: requested {requested}, allowed {allowed}"
        super().__init__(f"{text}; {detail}" if detail else text)
