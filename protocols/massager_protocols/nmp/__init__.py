"""NMP/1, the open neck-massager protocol.

Read ``protocols/specs/nmp1.md`` for the specification. This package holds its
executable form: message layouts, framing and a streaming decoder.
"""

from massager_protocols.nmp.framing import (
    FRAME,
    MAX_FRAME,
    MAX_PAYLOAD,
    OVERHEAD,
    SINGLE_WRITE_PAYLOAD,
    SOF,
    DecoderStats,
    Frame,
    StreamDecoder,
    decode_frame,
    encode,
    encode_frame,
)
from massager_protocols.nmp.messages import (
    DEVICE_MESSAGES,
    HOST_MESSAGES,
    MAX_ZONES,
    MESSAGES,
    NO_BATTERY,
    NO_TEMPERATURE,
    PROTOCOL_VERSION,
    Ack,
    Event,
    EventCode,
    EventState,
    Fault,
    Feature,
    GetInfo,
    GetStatus,
    Info,
    Keepalive,
    Message,
    MsgType,
    Nack,
    NackCode,
    PatternStep,
    SetAutoOff,
    SetHeat,
    SetOutput,
    Status,
    StopAll,
    UploadPattern,
    Waveform,
    ZoneInfo,
    ZonePosition,
    message_class,
)

__all__ = [
    "DEVICE_MESSAGES", "FRAME", "HOST_MESSAGES", "MAX_FRAME", "MAX_PAYLOAD", "MAX_ZONES",
    "MESSAGES", "NO_BATTERY", "NO_TEMPERATURE", "OVERHEAD", "PROTOCOL_VERSION",
    "SINGLE_WRITE_PAYLOAD", "SOF", "Ack", "DecoderStats", "Event", "EventCode", "EventState",
    "Fault", "Feature", "Frame", "GetInfo", "GetStatus", "Info", "Keepalive", "Message",
    "MsgType", "Nack", "NackCode", "PatternStep", "SetAutoOff", "SetHeat", "SetOutput",
    "Status", "StopAll", "StreamDecoder", "UploadPattern", "Waveform", "ZoneInfo",
    "ZonePosition", "decode_frame", "encode", "encode_frame", "message_class",
]
