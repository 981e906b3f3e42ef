"""The one family of errors that protocol code raises on bad input."""


class ProtocolError(ValueError):
    """Bytes or fields that do not form a valid message of the protocol.

    Every decoder in this package raises this (or a subclass) on malformed
    input and nothing else, so a caller can catch one type.
    """


class FrameError(ProtocolError):
    """A frame is truncated, has a bad sync byte, length or checksum."""


class UnknownMessageType(ProtocolError):
    """A well-formed frame carries a message type this side does not know."""

    def __init__(self, msg_type: int) -> None:
        super().__init__(f"unknown message type 0x{msg_type:02X}")
        self.msg_type = msg_type


class MalformedPayload(ProtocolError):
    """A known message type whose payload cannot be parsed or built."""
