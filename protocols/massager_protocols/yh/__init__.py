"""The "yh" frame of JL6328-based EMS and heating massagers.

Read ``protocols/specs/yh.md`` for the layout, the commands and which details
the public sources leave uncertain. This package holds its executable form:
the frame (construct), typed messages, and a streaming decoder.
"""

from massager_protocols.yh.frames import (
    FRAME,
    MAX_DATA,
    MAX_FRAME,
    MAX_LEVEL,
    OVERHEAD,
    RANGES,
    STATUS,
    SYNC,
    TRAILER,
    VALUE,
    Command,
    CrcRule,
    DecoderStats,
    Direction,
    Frame,
    HeartbeatRequest,
    Message,
    Mode,
    Setting,
    Status,
    StreamDecoder,
    decode_frame,
    decode_message,
    encode_frame,
    frame_crc,
)

__all__ = [
    "FRAME",
    "MAX_DATA",
    "MAX_FRAME",
    "MAX_LEVEL",
    "OVERHEAD",
    "RANGES",
    "STATUS",
    "SYNC",
    "TRAILER",
    "VALUE",
    "Command",
    "CrcRule",
    "DecoderStats",
    "Direction",
    "Frame",
    "HeartbeatRequest",
    "Message",
    "Mode",
    "Setting",
    "Status",
    "StreamDecoder",
    "decode_frame",
    "decode_message",
    "encode_frame",
    "frame_crc",
]
