"""Host-side protocol adapters: protocol-neutral commands to bytes and back.

``ADAPTERS`` maps a protocol identifier (``"nmp1"``) to its adapter class; the
client picks one with ``connect(..., protocol=...)``.
"""

from __future__ import annotations

from massager_sdk.protocols.base import (
    AdapterStats,
    Command,
    GetInfo,
    GetStatus,
    Incoming,
    Keepalive,
    ProtocolAdapter,
    Reply,
    SetAutoOff,
    SetHeat,
    SetZones,
    StopAll,
    UploadPattern,
)
from massager_sdk.protocols.nmp import NmpAdapter
from massager_sdk.protocols.tuya import TuyaAdapter
from massager_sdk.protocols.yh import YhAdapter

#: Adapters by protocol identifier.
ADAPTERS: dict[str, type[ProtocolAdapter]] = {
    NmpAdapter.name: NmpAdapter,
    TuyaAdapter.name: TuyaAdapter,
    YhAdapter.name: YhAdapter,
}


def adapter_for(protocol: str) -> ProtocolAdapter:
    """A fresh adapter for ``protocol``; ``ValueError`` naming the known ones."""
    try:
        return ADAPTERS[protocol]()
    except KeyError:
        raise ValueError(
            f"unknown protocol {protocol!r}; known: {', '.join(sorted(ADAPTERS))}"
        ) from None


__all__ = [
    "ADAPTERS",
    "AdapterStats",
    "Command",
    "GetInfo",
    "GetStatus",
    "Incoming",
    "Keepalive",
    "NmpAdapter",
    "ProtocolAdapter",
    "Reply",
    "SetAutoOff",
    "SetHeat",
    "SetZones",
    "StopAll",
    "UploadPattern",
    "adapter_for",
]
