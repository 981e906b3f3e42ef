"""Host-side protocol adapters: protocol-neutral commands to bytes and back.

``ADAPTERS`` maps a protocol identifier (``"nmp1"``, ``"yh"``, ``"tuya_ble"``)
to its adapter class. The client picks one (see
:mod:`massager_sdk.profiles.selection`) and builds it with the device profile:
``adapter_for("yh", profile=get_profile("yh-ems"))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from massager_sdk.profiles.model import DeviceProfile

#: Adapters by protocol identifier.
ADAPTERS: dict[str, type[ProtocolAdapter]] = {
    NmpAdapter.name: NmpAdapter,
    TuyaAdapter.name: TuyaAdapter,
    YhAdapter.name: YhAdapter,
}
#: Adapters whose capabilities come from a device profile (their protocol has no INFO).
_PROFILED: dict[str, Callable[[DeviceProfile], ProtocolAdapter]] = {
    TuyaAdapter.name: TuyaAdapter,
    YhAdapter.name: YhAdapter,
}


def adapter_for(protocol: str, *, profile: DeviceProfile | None = None) -> ProtocolAdapter:
    """A fresh adapter for ``protocol``, with the capabilities of ``profile`` when the
    protocol has no INFO message (default: the protocol's built-in profile).

    ``ValueError`` names the known protocols, or says the profile speaks another.
    """
    if protocol not in ADAPTERS:
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(sorted(ADAPTERS))}")
    if profile is not None and profile.protocol != protocol:
        raise ValueError(
            f"device profile {profile.id!r} speaks {profile.protocol!r}, not {protocol!r}"
        )
    if profile is not None and protocol in _PROFILED:
        return _PROFILED[protocol](profile)
    return ADAPTERS[protocol]()


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
