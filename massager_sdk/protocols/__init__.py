"""Host-side protocol adapters: protocol-neutral commands to bytes and back.

Every wire protocol is one registration (:class:`ProtocolSpec`, see
:mod:`massager_sdk.protocols.registry` and ``docs/adding-a-protocol.md``): its
adapter, default device profile, advertisement markers, credentials and secure
channel. The client picks one (see :mod:`massager_sdk.profiles.selection`) and
builds its adapter with the device profile: ``adapter_for(name, profile=...)``.
"""

from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING, Any

from massager_sdk.protocols.base import (
    AdapterStats,
    Command,
    DeviceCommand,
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
from massager_sdk.protocols.registry import (
    ENTRY_POINT_GROUP,
    Channel,
    Markers,
    MissingCredentials,
    ProtocolSpec,
    all_protocols,
    default_protocol,
    find_protocol,
    get_protocol,
    manufacturer_name,
    protocol_names,
    register_protocol,
    registered,
    unregister_protocol,
)

if TYPE_CHECKING:
    from massager_sdk.profiles.model import DeviceProfile


def adapter_for(protocol: str, *, profile: DeviceProfile | None = None) -> ProtocolAdapter:
    """A fresh adapter for ``protocol`` with the capabilities of ``profile`` (default: the
    protocol's default profile).

    ``ValueError`` names the known protocols, or says the profile speaks another.
    """
    spec = get_protocol(protocol)
    if profile is not None and profile.protocol != protocol:
        raise ValueError(
            f"device profile {profile.id!r} speaks {profile.protocol!r}, not {protocol!r}"
        )
    if profile is None:
        # Loaded here: profile loading reads this registry, so it comes after it.
        from massager_sdk.profiles.loader import get_profile

        profile = get_profile(spec.default_profile)
    return spec.adapter(profile)


def __getattr__(name: str) -> Any:
    if name == "ADAPTERS":
        warnings.warn(
            "massager_sdk.protocols.ADAPTERS is deprecated: use all_protocols() "
            "(a ProtocolSpec per name, whose adapter(profile) builds one)",
            DeprecationWarning,
            stacklevel=2,
        )
        return {name: spec.adapter for name, spec in all_protocols().items()}
    if name.endswith("Adapter"):
        # Adapters used to be exported here; they live in their protocol's module.
        for spec in all_protocols().values():
            module = sys.modules[spec.adapter.__module__]
            if hasattr(module, name):
                warnings.warn(
                    f"import {name} from {module.__name__}", DeprecationWarning, stacklevel=2
                )
                return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterStats",
    "Channel",
    "Command",
    "DeviceCommand",
    "GetInfo",
    "GetStatus",
    "Incoming",
    "Keepalive",
    "Markers",
    "MissingCredentials",
    "ProtocolAdapter",
    "ProtocolSpec",
    "Reply",
    "SetAutoOff",
    "SetHeat",
    "SetZones",
    "StopAll",
    "UploadPattern",
    "adapter_for",
    "all_protocols",
    "default_protocol",
    "find_protocol",
    "get_protocol",
    "manufacturer_name",
    "protocol_names",
    "register_protocol",
    "registered",
    "unregister_protocol",
]
