"""Wire protocols spoken by neck massagers.

This package is sans-I/O: it turns bytes into messages and messages into bytes,
with no sockets, no asyncio and no clock. Firmware test harnesses can install it
alone (``pip install massager-protocols``) with no BLE or MQTT dependency.
"""

from massager_protocols.errors import (
    FrameError,
    MalformedPayload,
    ProtocolError,
    UnknownMessageType,
)

__all__ = ["FrameError", "MalformedPayload", "ProtocolError", "UnknownMessageType"]
