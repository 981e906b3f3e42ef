"""massager-sdk: scripting, automating and building neck massagers.

Start here::

    import massager_sdk

    async with massager_sdk.connect() as device:  # the embedded simulator
        await device.set_intensity(3)
"""

import logging
from typing import TYPE_CHECKING, Any

from massager_sdk.capabilities import DeviceCapabilities, HeatCapability, Zone
from massager_sdk.client import Device, connect
from massager_sdk.errors import (
    BadURLError,
    ConnectionFailed,
    DeviceRefused,
    DeviceTimeout,
    MassagerError,
    NotSupported,
    SafetyRefusal,
)
from massager_sdk.model import (
    DeviceEvent,
    DeviceStatus,
    EventKind,
    Pattern,
    PatternStep,
    Waveform,
)

if TYPE_CHECKING:
    from massager_sdk.discovery import Discovered, scan

__version__ = "0.1.0"

# A library logs; the application decides where it goes (nothing is printed by default).
logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    # scan() needs bleak: import it only when asked for.
    if name in ("scan", "Discovered"):
        from massager_sdk import discovery

        return getattr(discovery, name)
    raise AttributeError(f"module 'massager_sdk' has no attribute {name!r}")


__all__ = [
    "BadURLError",
    "ConnectionFailed",
    "Device",
    "DeviceCapabilities",
    "DeviceEvent",
    "DeviceRefused",
    "DeviceStatus",
    "DeviceTimeout",
    "Discovered",
    "EventKind",
    "HeatCapability",
    "MassagerError",
    "NotSupported",
    "Pattern",
    "PatternStep",
    "SafetyRefusal",
    "Waveform",
    "Zone",
    "__version__",
    "connect",
    "scan",
]
