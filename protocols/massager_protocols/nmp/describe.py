"""Human-readable views of messages: code names instead of numbers."""

from __future__ import annotations

import enum
from typing import Any

from massager_protocols.nmp.messages import (
    Ack,
    Event,
    EventCode,
    EventState,
    Fault,
    Feature,
    Info,
    Message,
    MsgType,
    Nack,
    NackCode,
    SetHeat,
    SetOutput,
    Status,
    TestFault,
    TestInject,
    Waveform,
    ZonePosition,
)


def _name(codes: type[enum.IntEnum], value: int) -> str:
    try:
        return codes(value).name
    except ValueError:
        return f"0x{value:02X}"


def _flags(codes: type[enum.IntFlag], value: int) -> list[str]:
    names = [m.name or "" for m in codes if m.value & value]
    unknown = value & ~sum(m.value for m in codes)
    return names + ([f"0x{unknown:X}"] if unknown else [])


def _zones(mask: int) -> list[int]:
    return [i for i in range(8) if mask & (1 << i)]


def describe(message: Message) -> dict[str, Any]:
    """The message's fields with codes, flags and packed values spelled out."""
    fields = message.fields()
    if isinstance(message, SetOutput):
        fields["zone_mask"] = _zones(message.zone_mask)
        fields["waveform"] = _name(Waveform, message.waveform)
    elif isinstance(message, SetHeat):
        fields["target_c"] = message.target_dc / 10 if message.target_dc else "off"
        del fields["target_dc"]
    elif isinstance(message, (Ack, Nack)):
        fields["acked_type"] = _name(MsgType, message.acked_type)
        if isinstance(message, Nack):
            fields["code"] = _name(NackCode, message.code)
    elif isinstance(message, Event):
        fields["code"] = _name(EventCode, message.code)
        fields["state"] = _name(EventState, message.state)
    elif isinstance(message, TestInject):
        fields["fault"] = _name(TestFault, message.fault)
    elif isinstance(message, Info):
        fields["features"] = _flags(Feature, message.features)
        fields["zones"] = [
            {"name": z.name, "position": _name(ZonePosition, z.position)} for z in message.zones
        ]
    elif isinstance(message, Status):
        fields = {
            "battery_pct": message.battery_pct,
            "charging": message.charging,
            "battery_mv": message.battery_mv,
            "faults": _flags(Fault, message.faults),
            "heat_target_c": message.heat_target_dc / 10 if message.heat_target_dc else "off",
            "temperature_c": None
            if message.temperature_dc is None
            else message.temperature_dc / 10,
            "auto_off_s": message.auto_off_s,
            "intensities": list(message.intensities),
        }
    return fields
